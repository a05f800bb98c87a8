// The baseline losses on CUDA: the formulas of losses/baselines.cpp (one fused pass: each
// element's weighted loss and dL/dx together), with x the prediction, y the target, w the weight,
// scale = f32(loss_weight / avg_factor), p = sigmoid(x), B = BCE(x, y) (loss_common_cuda.h):
//
//   bce:    l = w B,                            dl/dx = w scale (p - y)
//   focal:  A = alpha y + (1 - alpha)(1 - y), q = p + y - 2py (= 1 - p_t),
//           l = w A q^gamma B,
//           dl/dx = w scale A (gamma q^(gamma-1) (1 - 2y) p (1 - p) B + q^gamma (p - y))
//   sl1:    d = x - y;  l = w (|d| < beta ? d^2 / (2 beta) : |d| - beta / 2),
//                                               dl/dx = w scale (|d| < beta ? d / beta : sign d)
//   asl1:   d = x - y, s = sqrt(d^2 + mu^2);  l = w (s - mu),  dl/dx = w scale d / s
//   (sl1 and asl1: w = 0 gives exactly 0, whatever d)
//
// Geometry: one block per tile of kTile = 4096 elements (thread t takes t, t + 256, ...); each
// block writes its gradients and the double sum of its losses (a fixed tree) to partial[tile];
// one more block adds the partials in tile order and writes
// loss = f32(sum * loss_weight / avg_factor), so the value never leaves the device.
// fused_loss_backward: d_pred[i] = upstream[0] * grad[i], grid-stride.
#include "losses/cuda/baselines_cuda.h"

#include "core/tensor.h"
#include "losses/cuda/loss_common_cuda.h"

namespace ghm::losses::cuda {
namespace {

struct BceTerm {
  float scale;
  __device__ double operator()(float x, float y, float w, float& g) const {
    const LogisticTerms l = logistic_terms(x, y);
    g = w * scale * (l.p - y);
    return static_cast<double>(w * l.bce);
  }
};

struct FocalTerm {
  float alpha, gamma, scale;
  bool gamma_is_two;  // q^2 and 2q without powf, as the CPU
  __device__ double operator()(float x, float y, float w, float& g) const {
    const LogisticTerms l = logistic_terms(x, y);
    const float a = alpha * y + (1.0f - alpha) * (1.0f - y);
    const float q = l.p + y - 2.0f * l.p * y;
    float q_gamma, q_gamma1;
    if (gamma_is_two) {
      q_gamma = q * q;
      q_gamma1 = 2.0f * q;
    } else {
      q_gamma = powf(q, gamma);
      q_gamma1 = q > 0.0f ? gamma * q_gamma / q : 0.0f;
    }
    const float dq = (1.0f - 2.0f * y) * l.p * (1.0f - l.p);
    g = w * scale * a * (q_gamma1 * dq * l.bce + q_gamma * (l.p - y));
    return static_cast<double>(w * a * q_gamma * l.bce);
  }
};

struct SmoothL1Term {
  float beta, scale;
  __device__ double operator()(float x, float y, float w, float& g) const {
    const float d = x - y, ad = fabsf(d);
    const bool quadratic = ad < beta;
    g = w == 0.0f ? 0.0f : w * scale * (quadratic ? d / beta : (d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f));
    return w == 0.0f ? 0.0 : static_cast<double>(w) * (quadratic ? 0.5f * d * d / beta : ad - 0.5f * beta);
  }
};

struct Asl1Term {
  float mu, mu2, scale;
  __device__ double operator()(float x, float y, float w, float& g) const {
    const float d = x - y, s = sqrtf(d * d + mu2);
    g = w == 0.0f ? 0.0f : w * scale * d / s;
    return w == 0.0f ? 0.0 : static_cast<double>(w) * (s - mu);
  }
};

// in: ClassInputs over [N, K] (elements N * K, cols K) or RegressionInputs over [n] (elements n,
// cols 1); grad: [elements] written; partial: [tiles] written.
template <class Term, class Inputs>
__global__ void __launch_bounds__(kThreads)
    loss_kernel(Term term, Inputs in, std::int64_t elements, std::int64_t cols, float* __restrict__ grad,
                double* __restrict__ partial) {
  const std::int64_t tile = blockIdx.x;
  const std::int64_t first = tile * kTile + threadIdx.x, end = min((tile + 1) * kTile, elements);
  ClassItem items[kItems];
  load_items(in, first, end, cols, items);
  double acc = 0;
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const std::int64_t e = first + std::int64_t{j} * kThreads;
    if (e < end) {
      float g = 0.0f;
      acc += term(items[j].x, items[j].y, items[j].w, g);
      grad[e] = g;
    }
  }
  const double tile_sum = block_sum(acc);
  if (threadIdx.x == 0) partial[tile] = tile_sum;
}

__global__ void scale_by_upstream_kernel(const float* __restrict__ grad, const float* __restrict__ upstream,
                                         float* __restrict__ d_pred, std::int64_t n) {
  const float u = upstream[0];
  for (std::int64_t i = ghm::cuda::first_index(); i < n; i += ghm::cuda::grid_stride()) d_pred[i] = u * grad[i];
}

// Runs launch(blocks, partial) over the tiles of `elements` (when there are any), then the final
// sum into loss[0]. The partials live in a scratch tensor, freed on return (stream-ordered reuse).
template <class Launch>
void fused_loss(std::int64_t elements, float loss_weight, double avg_factor, float* loss, const char* op,
                Launch&& launch) {
  const std::int64_t tiles = tiles_for(elements);
  GHM_CHECK(tiles <= kMaxGridBlocks, op, ": ", elements, " elements exceed one grid of tiles");
  Tensor scratch;
  double* partial = nullptr;
  if (tiles > 0) {
    scratch = Tensor::empty(Shape{tiles * static_cast<std::int64_t>(sizeof(double))}, DType::U8,
                            Device::cuda(current_device()));
    partial = reinterpret_cast<double*>(scratch.device_data<std::uint8_t>());
    launch(static_cast<unsigned>(tiles), partial);
    GHM_CUDA_CHECK_LAUNCH();
  }
  finish_loss_kernel<<<1, kThreads>>>(partial, tiles, static_cast<double>(loss_weight), avg_factor, loss);
  GHM_CUDA_CHECK_LAUNCH();
}

float loss_scale(float loss_weight, double avg_factor) { return static_cast<float>(loss_weight / avg_factor); }

}  // namespace

void bce_with_logits_loss(const float* pred, const DeviceClassTargets& t, double avg_factor, float loss_weight,
                          float* grad, float* loss) {
  const BceTerm term{loss_scale(loss_weight, avg_factor)};
  fused_loss(t.n * t.k, loss_weight, avg_factor, loss, "bce_with_logits_loss", [&](unsigned blocks, double* partial) {
    loss_kernel<<<blocks, kThreads>>>(term, ClassInputs{pred, t}, t.n * t.k, t.k, grad, partial);
  });
}

void sigmoid_focal_loss(const float* pred, const DeviceClassTargets& t, double avg_factor, float alpha, float gamma,
                        float loss_weight, float* grad, float* loss) {
  const FocalTerm term{alpha, gamma, loss_scale(loss_weight, avg_factor), gamma == 2.0f};
  fused_loss(t.n * t.k, loss_weight, avg_factor, loss, "sigmoid_focal_loss", [&](unsigned blocks, double* partial) {
    loss_kernel<<<blocks, kThreads>>>(term, ClassInputs{pred, t}, t.n * t.k, t.k, grad, partial);
  });
}

void smooth_l1_loss(const float* pred, const float* target, const float* weight, std::int64_t n, double avg_factor,
                    float beta, float loss_weight, float* grad, float* loss) {
  const SmoothL1Term term{beta, loss_scale(loss_weight, avg_factor)};
  fused_loss(n, loss_weight, avg_factor, loss, "smooth_l1_loss", [&](unsigned blocks, double* partial) {
    loss_kernel<<<blocks, kThreads>>>(term, RegressionInputs{pred, target, weight}, n, 1, grad, partial);
  });
}

void asl1_loss(const float* pred, const float* target, const float* weight, std::int64_t n, double avg_factor, float mu,
               float loss_weight, float* grad, float* loss) {
  const float mu2 = static_cast<float>(static_cast<double>(mu) * mu);
  const Asl1Term term{mu, mu2, loss_scale(loss_weight, avg_factor)};
  fused_loss(n, loss_weight, avg_factor, loss, "asl1_loss", [&](unsigned blocks, double* partial) {
    loss_kernel<<<blocks, kThreads>>>(term, RegressionInputs{pred, target, weight}, n, 1, grad, partial);
  });
}

void fused_loss_backward(const float* grad, const float* upstream, float* d_pred, std::int64_t n) {
  if (n == 0) return;
  scale_by_upstream_kernel<<<ghm::cuda::blocks_for(n), kThreads>>>(grad, upstream, d_pred, n);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::losses::cuda
