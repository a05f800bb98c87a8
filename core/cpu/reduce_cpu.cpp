// Reductions on the CPU.
//
// sum_middle reduces the middle axis of a [outer, r, inner] view. With inner == 1 each output is
// a contiguous dot-like sum (accumulated in double); otherwise rows of `inner` floats are added
// with vector loads. Work is split over outputs only, never over the reduced axis, so results do
// not depend on the number of threads.
#include "core/cpu/reduce_cpu.h"

#include <algorithm>
#include <vector>

#include "core/cpu/parallel.h"

namespace ghm::cpu {

void sum_middle(const float* x, float* out, std::int64_t outer, std::int64_t r, std::int64_t inner) {
  if (inner == 1) {
    parallel_for(outer, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(r, 1)),
                 [&](std::int64_t begin, std::int64_t end) {
                   for (std::int64_t o = begin; o < end; ++o) {
                     const float* row = x + o * r;
                     double acc = 0;
#pragma omp simd reduction(+ : acc)
                     for (std::int64_t k = 0; k < r; ++k) acc += row[k];
                     out[o] = static_cast<float>(acc);
                   }
                 });
    return;
  }
  // Split over (outer, inner-block) pairs.
  constexpr std::int64_t kBlock = 1024;
  const std::int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(outer * blocks, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(r * kBlock, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t t = begin; t < end; ++t) {
                   const std::int64_t o = t / blocks, i0 = (t % blocks) * kBlock;
                   const std::int64_t len = std::min(kBlock, inner - i0);
                   float* dst = out + o * inner + i0;
                   std::fill(dst, dst + len, 0.0f);
                   for (std::int64_t k = 0; k < r; ++k) {
                     const float* src = x + (o * r + k) * inner + i0;
#pragma omp simd
                     for (std::int64_t i = 0; i < len; ++i) dst[i] += src[i];
                   }
                 }
               });
}

double sum_all(const float* x, std::int64_t n) {
  constexpr std::int64_t kChunk = 1 << 16;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
  parallel_for(chunks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      const std::int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t i = lo; i < hi; ++i) acc += x[i];
      partial[static_cast<std::size_t>(c)] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace ghm::cpu
