// Baseline losses: each one fused pass that writes dL/dpred and sums the loss over fixed row
// chunks in a fixed order (deterministic for any thread count). CUDA inputs run the same formulas
// on their device (losses/cuda/baselines_cuda.cu). The math of each is in
// losses/baselines.h; the focal gradient, with A = alpha_t, q = 1 - p_t = p + y - 2py and
// B = BCE(x, y), is  dl/dx = A * (gamma * q^(gamma-1) * (1 - 2y) p (1-p) * B + q^gamma * (p - y)).
#include "losses/baselines.h"

#include <cmath>
#include <vector>

#include "core/cpu/fast_math.h"
#include "core/cpu/parallel.h"
#include "losses/class_targets.h"
#include "losses/fused_loss.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "losses/cuda/baselines_cuda.h"
#endif

namespace ghm::losses {
namespace {

constexpr std::int64_t kChunkElements = 1 << 14;

// Runs elem(row, col, &grad) -> loss over a [rows, cols] block; returns the sum of the losses.
// grad: [rows, cols], written with each element's dl/dx (already weighted by the caller's elem).
template <class Elem>
double fused_pass(std::int64_t rows, std::int64_t cols, float* grad, Elem&& elem) {
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, kChunkElements / std::max<std::int64_t>(cols, 1));
  const std::int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
  ghm::cpu::parallel_for(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      double acc = 0;
      for (std::int64_t r = c * rows_per_chunk, end = std::min(rows, (c + 1) * rows_per_chunk); r < end; ++r) {
        float* g = grad + r * cols;
#pragma omp simd reduction(+ : acc)
        for (std::int64_t k = 0; k < cols; ++k) acc += elem(r, k, g + k);
      }
      partial[static_cast<std::size_t>(c)] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

// fused_pass for the classification losses: per row, the target (one-hot row or label) and the
// weight (row or per element) are resolved once, and the element loop is branch-free, so it
// vectorises. elem(x, y, w, &grad) -> weighted loss.
template <class Elem>
double class_pass(const ClassTargets& t, const float* x, float* grad, Elem&& elem) {
  const std::int64_t k = t.k;
  const float* onehot = t.onehot;
  const std::int64_t* labels = t.labels;
  const float* weight = t.weight;
  const bool per_row = t.weight_per_row;
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, kChunkElements / std::max<std::int64_t>(k, 1));
  const std::int64_t chunks = (t.n + rows_per_chunk - 1) / rows_per_chunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
  ghm::cpu::parallel_for(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
    // A local copy: the element function's captures must not be reloaded through the closure
    // (the grad stores might alias them), or the loops do not vectorise.
    const auto f = elem;
    for (std::int64_t c = c0; c < c1; ++c) {
      double acc = 0;
      for (std::int64_t r = c * rows_per_chunk, end = std::min(t.n, (c + 1) * rows_per_chunk); r < end; ++r) {
        const float* __restrict xr = x + r * k;
        float* __restrict gr = grad + r * k;
        const float* yr = onehot ? onehot + r * k : nullptr;
        const std::int64_t label = labels ? labels[r] : -1;
        const float* wr = per_row ? nullptr : weight + r * k;
        const float row_w = per_row ? weight[r] : 0.0f;
        if (yr && wr) {
#pragma omp simd reduction(+ : acc)
          for (std::int64_t j = 0; j < k; ++j) acc += f(xr[j], yr[j], wr[j], gr + j);
        } else if (yr) {
#pragma omp simd reduction(+ : acc)
          for (std::int64_t j = 0; j < k; ++j) acc += f(xr[j], yr[j], row_w, gr + j);
        } else if (wr) {
#pragma omp simd reduction(+ : acc)
          for (std::int64_t j = 0; j < k; ++j) acc += f(xr[j], j == label ? 1.0f : 0.0f, wr[j], gr + j);
        } else {
#pragma omp simd reduction(+ : acc)
          for (std::int64_t j = 0; j < k; ++j) acc += f(xr[j], j == label ? 1.0f : 0.0f, row_w, gr + j);
        }
      }
      partial[static_cast<std::size_t>(c)] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

// p = sigmoid(x) and the stable BCE(x, y), from one (vectorising) exp: core/cpu/fast_math.h.
using Logistic = ghm::cpu::LogisticParts;
void check_avg(double avg_factor, const char* op) {
  GHM_CHECK(avg_factor > 0.0, op, ": avg_factor must be positive, got ", avg_factor);
}

void check_regression(const Tensor& pred, const Tensor& target, const Tensor& weight, const char* op) {
  check_dtype(pred, DType::F32, op, "pred");
  check_dtype(target, DType::F32, op, "target");
  check_dtype(weight, DType::F32, op, "weight");
  GHM_CHECK(pred.dim() == 2 && target.shape() == pred.shape() && weight.shape() == pred.shape(), op, ": pred ",
            pred.shape(), ", target ", target.shape(), " and weight ", weight.shape(), " must all be [N, D]");
  GHM_CHECK(target.device() == pred.device() && weight.device() == pred.device(), op, ": pred on ", pred.device(),
            ", target on ", target.device(), " and weight on ", weight.device(), " must be on one device");
}

// The CPU pass of a regression loss over pred, target, weight [N, D]: elem(d, w, &grad) -> the
// weighted loss of one element, d = pred - target; the op's value is sum * loss_weight / avg_factor.
template <class Elem>
Tensor regression_loss_output(const Tensor& pred, const Tensor& target, const Tensor& weight, double avg_factor,
                              float loss_weight, const char* op, Elem&& elem) {
  const float* x = pred.data<float>();
  const float* y = target.data<float>();
  const float* wt = weight.data<float>();
  const std::int64_t cols = pred.size(1);
  Tensor grad = Tensor::empty(pred.shape());
  const double sum = fused_pass(pred.size(0), cols, grad.data<float>(), [&](std::int64_t r, std::int64_t k, float* g) {
    const std::int64_t i = r * cols + k;
    return elem(x[i] - y[i], wt[i], g);
  });
  return fused_loss_output(sum * loss_weight / avg_factor, pred, grad, op);
}

#if GHM_WITH_CUDA
// A loss on pred's CUDA device: launch(grad, loss) runs the kernels (losses/cuda/baselines_cuda.h);
// the value stays a [] tensor there.
template <class Launch>
Tensor cuda_loss(const Tensor& pred, const char* op, Launch&& launch) {
  const ghm::cuda::DeviceGuard guard(pred.device().index);
  Tensor grad = Tensor::empty(pred.shape(), DType::F32, pred.device());
  Tensor loss = Tensor::empty(Shape{}, DType::F32, pred.device());
  launch(grad.device_data<float>(), loss.device_data<float>());
  return fused_loss_output(loss, pred, grad, op);
}
#endif

}  // namespace

Tensor bce_with_logits_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, double avg_factor,
                            float loss_weight) {
  const char* op = "bce_with_logits_loss";
  check_avg(avg_factor, op);
#if GHM_WITH_CUDA
  if (pred.defined() && pred.device().is_cuda()) {
    const DeviceClassTargets t = make_device_class_targets(pred, target, label_weight, op);
    return cuda_loss(pred, op, [&](float* grad, float* loss) {
      cuda::bce_with_logits_loss(pred.device_data<float>(), t, avg_factor, loss_weight, grad, loss);
    });
  }
#endif
  const ClassTargets t = make_class_targets(pred, target, label_weight, op);
  const float* x = pred.data<float>();
  const float scale = static_cast<float>(loss_weight / avg_factor);
  Tensor grad = Tensor::empty(pred.shape());
  const double sum = class_pass(t, x, grad.data<float>(), [scale](float xi, float y, float w, float* g) {
    const Logistic l = ghm::cpu::logistic_parts(xi, y);
    *g = w * scale * (l.p - y);
    return static_cast<double>(w * l.bce);
  });
  return fused_loss_output(sum * loss_weight / avg_factor, pred, grad, op);
}

Tensor sigmoid_focal_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, double avg_factor,
                          float alpha, float gamma, float loss_weight) {
  const char* op = "sigmoid_focal_loss";
  check_avg(avg_factor, op);
  GHM_CHECK(gamma >= 0.0f && alpha >= 0.0f && alpha <= 1.0f, op, ": need gamma >= 0 and alpha in [0, 1], got gamma ",
            gamma, ", alpha ", alpha);
#if GHM_WITH_CUDA
  if (pred.defined() && pred.device().is_cuda()) {
    const DeviceClassTargets t = make_device_class_targets(pred, target, label_weight, op);
    return cuda_loss(pred, op, [&](float* grad, float* loss) {
      cuda::sigmoid_focal_loss(pred.device_data<float>(), t, avg_factor, alpha, gamma, loss_weight, grad, loss);
    });
  }
#endif
  const ClassTargets t = make_class_targets(pred, target, label_weight, op);
  const float* x = pred.data<float>();
  const float scale = static_cast<float>(loss_weight / avg_factor);
  Tensor grad = Tensor::empty(pred.shape());
  // q^gamma and gamma * q^(gamma - 1) given q; gamma = 2 (the default) needs no pow, and keeping
  // pow out of that loop lets it vectorise.
  auto focal = [=](auto powers) {
    return [=](float xi, float y, float w, float* g) {
      const Logistic l = ghm::cpu::logistic_parts(xi, y);
      const float a = alpha * y + (1.0f - alpha) * (1.0f - y);
      const float q = l.p + y - 2.0f * l.p * y;
      const auto [q_gamma, q_gamma1] = powers(q);
      const float dq = (1.0f - 2.0f * y) * l.p * (1.0f - l.p);
      *g = w * scale * a * (q_gamma1 * dq * l.bce + q_gamma * (l.p - y));
      return static_cast<double>(w * a * q_gamma * l.bce);
    };
  };
  const double sum =
      gamma == 2.0f
          ? class_pass(t, x, grad.data<float>(), focal([](float q) { return std::pair<float, float>{q * q, 2.0f * q}; }))
          : class_pass(t, x, grad.data<float>(), focal([gamma](float q) {
              const float qg = std::pow(q, gamma);
              return std::pair<float, float>{qg, q > 0.0f ? gamma * qg / q : 0.0f};
            }));
  return fused_loss_output(sum * loss_weight / avg_factor, pred, grad, op);
}

Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, const Tensor& weight, double avg_factor, float beta,
                      float loss_weight) {
  const char* op = "smooth_l1_loss";
  check_avg(avg_factor, op);
  check_regression(pred, target, weight, op);
  GHM_CHECK(beta >= 0.0f, op, ": beta must be >= 0 (0: L1), got ", beta);
#if GHM_WITH_CUDA
  if (pred.defined() && pred.device().is_cuda())
    return cuda_loss(pred, op, [&](float* grad, float* loss) {
      cuda::smooth_l1_loss(pred.device_data<float>(), target.device_data<float>(), weight.device_data<float>(),
                           pred.numel(), avg_factor, beta, loss_weight, grad, loss);
    });
#endif
  const float scale = static_cast<float>(loss_weight / avg_factor);
  return regression_loss_output(pred, target, weight, avg_factor, loss_weight, op, [&](float d, float w, float* g) {
    const float ad = std::abs(d);
    const bool quadratic = ad < beta;
    *g = w == 0.0f ? 0.0f : w * scale * (quadratic ? d / beta : (d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f));
    return w == 0.0f ? 0.0 : static_cast<double>(w) * (quadratic ? 0.5f * d * d / beta : ad - 0.5f * beta);
  });
}

Tensor asl1_loss(const Tensor& pred, const Tensor& target, const Tensor& weight, double avg_factor, float mu,
                 float loss_weight) {
  const char* op = "asl1_loss";
  check_avg(avg_factor, op);
  check_regression(pred, target, weight, op);
  GHM_CHECK(mu > 0.0f, op, ": mu must be positive, got ", mu);
#if GHM_WITH_CUDA
  if (pred.defined() && pred.device().is_cuda())
    return cuda_loss(pred, op, [&](float* grad, float* loss) {
      cuda::asl1_loss(pred.device_data<float>(), target.device_data<float>(), weight.device_data<float>(),
                      pred.numel(), avg_factor, mu, loss_weight, grad, loss);
    });
#endif
  const float mu2 = static_cast<float>(static_cast<double>(mu) * mu);
  const float scale = static_cast<float>(loss_weight / avg_factor);
  return regression_loss_output(pred, target, weight, avg_factor, loss_weight, op, [&](float d, float w, float* g) {
    const float s = std::sqrt(d * d + mu2);
    *g = w == 0.0f ? 0.0f : w * scale * d / s;
    return w == 0.0f ? 0.0 : static_cast<double>(w) * (s - mu);
  });
}

}  // namespace ghm::losses
