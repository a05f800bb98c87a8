// Softmax cross-entropy on CUDA (the math is in losses/softmax_ce.h), with scale =
// f32(loss_weight / avg_factor):
//
//   m = max_j x_j,  s = sum_j exp(x_j - m),  l = (m - x_y) + log s,  g_j = scale (exp(x_j - m) / s - [j = y])
//
// Geometry: one thread per row (K is a class count, tens to a few thousand); a block of kThreads
// rows writes the double sum of its rows' losses (a fixed tree) to partial[block]; one more block
// adds the partials in block order into loss = f32(sum * loss_weight / avg_factor). A label
// outside [0, K) that is not -1 is reported through `bad` (the host checks it) and its row left out.
#include "losses/cuda/softmax_ce_cuda.h"

#include "core/tensor.h"
#include "losses/cuda/loss_common_cuda.h"

namespace ghm::losses::cuda {
namespace {

// x, grad: [n, k]; labels: [n]; partial: [gridDim.x].
__global__ void __launch_bounds__(kThreads)
    softmax_ce_kernel(const float* __restrict__ x, const std::int64_t* __restrict__ labels, std::int64_t n,
                      std::int64_t k, float scale, float* __restrict__ grad, double* __restrict__ partial,
                      unsigned long long* __restrict__ bad) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  double loss = 0;
  if (r < n) {
    const float* xr = x + r * k;
    float* gr = grad + r * k;
    const std::int64_t y = labels[r];
    if (y < 0 || y >= k) {
      if (y != -1) atomicCAS(bad, 0ULL, static_cast<unsigned long long>(y + 1));
      for (std::int64_t j = 0; j < k; ++j) gr[j] = 0.0f;
    } else {
      float m = xr[0];
      for (std::int64_t j = 1; j < k; ++j) m = fmaxf(m, xr[j]);
      float s = 0;
      for (std::int64_t j = 0; j < k; ++j) s += expf(xr[j] - m);
      const float inv = 1.0f / s;
      for (std::int64_t j = 0; j < k; ++j) gr[j] = scale * expf(xr[j] - m) * inv;
      gr[y] -= scale;
      loss = static_cast<double>((m - xr[y]) + logf(s));  // m - x_y first: exact when it is large
    }
  }
  const double block = block_sum(loss);
  if (threadIdx.x == 0) partial[blockIdx.x] = block;
}

}  // namespace

void softmax_cross_entropy_loss(const float* pred, const std::int64_t* labels, std::int64_t n, std::int64_t k,
                                double avg_factor, float loss_weight, float* grad, float* loss, std::int64_t* bad) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  GHM_CHECK(blocks <= kMaxGridBlocks, "softmax_cross_entropy_loss: ", n, " rows exceed one grid");
  Tensor scratch;
  double* partial = nullptr;
  if (blocks > 0) {
    scratch = Tensor::empty(Shape{blocks * static_cast<std::int64_t>(sizeof(double))}, DType::U8,
                            Device::cuda(current_device()));
    partial = reinterpret_cast<double*>(scratch.device_data<std::uint8_t>());
    softmax_ce_kernel<<<static_cast<unsigned>(blocks), kThreads>>>(
        pred, labels, n, k, static_cast<float>(loss_weight / avg_factor), grad, partial,
        reinterpret_cast<unsigned long long*>(bad));
    GHM_CUDA_CHECK_LAUNCH();
  }
  finish_loss_kernel<<<1, kThreads>>>(partial, blocks, static_cast<double>(loss_weight), avg_factor, loss);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::losses::cuda
