// SGD and gradient-norm clipping on CUDA (nn/optim.h has the math):
//
//   sgd_update       one thread per element (grid-stride): d = g + wd * w; v = m * buf + d; w -= lr * v
//   sum_of_squares   pass 1: block b of tensor t adds g[i]^2 for i in chunk b (strided per thread,
//                    in double), then block_sum's fixed tree (block_reduce.cuh) -> partial[offset_t + b];
//                    pass 2: one block adds all partials in a fixed tree -> total (deterministic)
//   scale_in_place   x *= scale
#include "nn/cuda/optim_cuda.h"

#include <vector>

#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"
#include "core/tensor.h"

namespace ghm::nn::cuda {
namespace {

using ghm::cuda::block_sum;
using ghm::cuda::blocks_for;
using ghm::cuda::first_index;
using ghm::cuda::grid_stride;
using ghm::cuda::kThreads;

constexpr std::int64_t kChunk = 1 << 16;

__global__ void sgd_kernel(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ buf,
                           std::int64_t n, float lr, float wd, float m, bool first) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float d = g[i] + wd * w[i];
    float v = d;
    if (buf != nullptr) {
      v = first ? d : m * buf[i] + d;
      buf[i] = v;
    }
    w[i] -= lr * v;
  }
}

__global__ void chunk_squares_kernel(const float* __restrict__ g, std::int64_t n, double* __restrict__ partial) {
  const std::int64_t lo = blockIdx.x * kChunk, hi = min(n, lo + kChunk);
  double acc = 0;
  for (std::int64_t i = lo + threadIdx.x; i < hi; i += kThreads) acc += static_cast<double>(g[i]) * g[i];
  const double total = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void add_partials_kernel(const double* __restrict__ partial, std::int64_t count, double* __restrict__ out) {
  double acc = 0;
  for (std::int64_t i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double total = block_sum(acc);
  if (threadIdx.x == 0) out[0] = total;
}

__global__ void scale_kernel(float* __restrict__ x, std::int64_t n, float scale) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) x[i] *= scale;
}

}  // namespace

void sgd_update(float* w, const float* g, float* buf, std::int64_t n, float lr, float wd, float m, bool first) {
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n), kThreads>>>(w, g, buf, n, lr, wd, m, first);
  GHM_CUDA_CHECK_LAUNCH();
}

double sum_of_squares(const float* const* grads, const std::int64_t* sizes, int count, int device) {
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(count) + 1, 0);
  for (int t = 0; t < count; ++t) offsets[t + 1] = offsets[t] + (sizes[t] + kChunk - 1) / kChunk;
  const std::int64_t chunks = offsets.back();
  if (chunks == 0) return 0.0;
  // partial[0, chunks) and the total at partial[chunks], as f32 words (the tensor dtypes have no f64).
  Tensor scratch = Tensor::empty(Shape{2 * (chunks + 1)}, DType::F32, Device::cuda(device));
  auto* partial = reinterpret_cast<double*>(scratch.device_data<float>());
  for (int t = 0; t < count; ++t) {
    const std::int64_t blocks = offsets[t + 1] - offsets[t];
    if (blocks == 0) continue;
    chunk_squares_kernel<<<static_cast<unsigned>(blocks), kThreads>>>(grads[t], sizes[t], partial + offsets[t]);
    GHM_CUDA_CHECK_LAUNCH();
  }
  add_partials_kernel<<<1, kThreads>>>(partial, chunks, partial + chunks);
  GHM_CUDA_CHECK_LAUNCH();
  double total = 0;
  GHM_CUDA_CHECK(cudaMemcpy(&total, partial + chunks, sizeof(double), cudaMemcpyDeviceToHost));
  return total;
}

void scale_in_place(float* x, std::int64_t n, float scale) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads>>>(x, n, scale);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::nn::cuda
