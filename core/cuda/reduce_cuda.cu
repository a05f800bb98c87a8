// Reductions on CUDA, deterministic (a fixed summation order, whatever the scheduling):
//
//   sum_middle, inner > 1:  one thread per output (o, i) adds x[o, 0..r-1, i] in order; threads
//                           of a warp read consecutive i, so the loads are coalesced
//   sum_middle, inner = 1:  one block per row: each thread adds a strided subset in order (in
//                           double), then block_sum's tree of fixed shape (block_reduce.cuh)
//   sum_all:                pass 1: block b reduces elements [b * kChunk, (b + 1) * kChunk) like a
//                           row above; pass 2: one block adds the partials in block order
#include "core/cuda/reduce_cuda.h"

#include <algorithm>

#include "core/cuda/block_reduce.cuh"
#include "core/cuda/caching_allocator.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"
#include "core/cuda/device_memory.h"

namespace ghm::cuda {
namespace {

constexpr std::int64_t kChunk = 1 << 16;

__global__ void sum_columns_kernel(const float* __restrict__ x, float* __restrict__ out, std::int64_t outer,
                                   std::int64_t r, std::int64_t inner) {
  const std::int64_t total = outer * inner;
  for (std::int64_t t = first_index(); t < total; t += grid_stride()) {
    const std::int64_t o = t / inner, i = t % inner;
    const float* src = x + o * r * inner + i;
    float acc = 0.0f;  // the CPU kernel adds rows of floats in the same order
    for (std::int64_t k = 0; k < r; ++k) acc += src[k * inner];
    out[t] = acc;
  }
}

__global__ void sum_rows_kernel(const float* __restrict__ x, float* __restrict__ out, std::int64_t r) {
  const float* row = x + blockIdx.x * r;
  double acc = 0;
  for (std::int64_t k = threadIdx.x; k < r; k += kThreads) acc += row[k];
  const double total = block_sum(acc);
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<float>(total);
}

__global__ void partial_sums_kernel(const float* __restrict__ x, std::int64_t n, double* __restrict__ partial) {
  const std::int64_t lo = blockIdx.x * kChunk, hi = min(n, lo + kChunk);
  double acc = 0;
  for (std::int64_t i = lo + threadIdx.x; i < hi; i += kThreads) acc += x[i];
  const double total = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void finish_sum_kernel(const double* __restrict__ partial, std::int64_t count, double scale,
                                  float* __restrict__ out) {
  double acc = 0;
  for (std::int64_t i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double total = block_sum(acc);
  if (threadIdx.x == 0) out[0] = static_cast<float>(total * scale);
}

int current_device() {
  int d = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

}  // namespace

void sum_middle(const float* x, float* out, std::int64_t outer, std::int64_t r, std::int64_t inner) {
  if (outer * inner == 0) return;
  if (inner == 1) {
    GHM_CHECK(outer <= 0x7fffffff, "sum_middle: ", outer, " rows exceed one grid");
    sum_rows_kernel<<<static_cast<unsigned>(outer), kThreads>>>(x, out, r);
  } else {
    const std::int64_t total = outer * inner;
    sum_columns_kernel<<<blocks_for(total), kThreads>>>(x, out, outer, r, inner);
  }
  GHM_CUDA_CHECK_LAUNCH();
}

void sum_all(const float* x, std::int64_t n, double scale, float* out) {
  const std::int64_t chunks = std::max<std::int64_t>(1, (n + kChunk - 1) / kChunk);
  CachingAllocator& alloc = device_allocator(current_device());
  auto* partial = static_cast<double*>(alloc.allocate(static_cast<std::size_t>(chunks) * sizeof(double)));
  if (n == 0) {
    GHM_CUDA_CHECK(cudaMemset(partial, 0, sizeof(double)));
  } else {
    partial_sums_kernel<<<static_cast<unsigned>(chunks), kThreads>>>(x, n, partial);
    GHM_CUDA_CHECK_LAUNCH();
  }
  finish_sum_kernel<<<1, kThreads>>>(partial, chunks, scale, out);
  GHM_CUDA_CHECK_LAUNCH();
  alloc.free(partial);  // stream-ordered: a later allocation on this stream runs after the kernel
}

}  // namespace ghm::cuda
