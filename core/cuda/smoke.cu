// axpy: y = a * x + y, the smallest real kernel, used to check that the CUDA build and the GPU
// test path work.
//
// Layout: x[N], y[N], contiguous float32 device memory; N may exceed the grid size and need not
// be a multiple of the block size.
//
// Launch geometry: 1-D, kThreads threads per block, at most kMaxBlocks blocks; each thread walks
// the array with a grid-wide stride, so any N (including N > 2^31) is covered by one launch. N == 0
// launches nothing. Indices are 64-bit.
#include <algorithm>

#include "core/check.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/smoke.h"

namespace ghm {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;

constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

__global__ void axpy_kernel(float a, const float* __restrict__ x, float* __restrict__ y, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = a * x[i] + y[i];
}

}  // namespace

void cuda_axpy(float a, const float* x, float* y, std::int64_t n) {
  GHM_CHECK(n >= 0, "cuda_axpy: negative length ", n);
  if (n == 0) return;
  GHM_CHECK(x != nullptr && y != nullptr, "cuda_axpy: null device pointer for ", n, " elements");
  const auto blocks = static_cast<unsigned>(std::min(ceil_div(n, kThreads), kMaxBlocks));
  axpy_kernel<<<blocks, kThreads>>>(a, x, y, n);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm
