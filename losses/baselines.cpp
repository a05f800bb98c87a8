// Baseline losses: each one fused pass that writes dL/dpred and sums the loss over fixed row
// chunks in a fixed order (deterministic for any thread count). The math of each is in
// losses/baselines.h; the focal gradient, with A = alpha_t, q = 1 - p_t = p + y - 2py and
// B = BCE(x, y), is  dl/dx = A * (gamma * q^(gamma-1) * (1 - 2y) p (1-p) * B + q^gamma * (p - y)).
#include "losses/baselines.h"

#include <cmath>
#include <vector>

#include "core/cpu/parallel.h"
#include "losses/class_targets.h"
#include "losses/fused_loss.h"

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
      for (std::int64_t r = c * rows_per_chunk, end = std::min(rows, (c + 1) * rows_per_chunk); r < end; ++r)
        for (std::int64_t k = 0; k < cols; ++k) acc += elem(r, k, grad + r * cols + k);
      partial[static_cast<std::size_t>(c)] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

// Stable pieces of the logistic: t = exp(-|x|), p = sigmoid(x), BCE(x, y).
struct Logistic {
  float p, bce;
  Logistic(float x, float y) {
    const float t = std::exp(-std::abs(x));
    p = x >= 0.0f ? 1.0f / (1.0f + t) : t / (1.0f + t);
    bce = std::max(x, 0.0f) - x * y + std::log1p(t);
  }
};

void check_avg(double avg_factor, const char* op) {
  GHM_CHECK(avg_factor > 0.0, op, ": avg_factor must be positive, got ", avg_factor);
}

void check_regression(const Tensor& pred, const Tensor& target, const Tensor& weight, const char* op) {
  check_dtype(pred, DType::F32, op, "pred");
  check_dtype(target, DType::F32, op, "target");
  check_dtype(weight, DType::F32, op, "weight");
  GHM_CHECK(pred.dim() == 2 && target.shape() == pred.shape() && weight.shape() == pred.shape(), op, ": pred ",
            pred.shape(), ", target ", target.shape(), " and weight ", weight.shape(), " must all be [N, D]");
}

}  // namespace

Tensor bce_with_logits_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, double avg_factor,
                            float loss_weight) {
  const char* op = "bce_with_logits_loss";
  check_avg(avg_factor, op);
  const ClassTargets t = make_class_targets(pred, target, label_weight, op);
  const float* x = pred.data<float>();
  const float scale = static_cast<float>(loss_weight / avg_factor);
  Tensor grad = Tensor::empty(pred.shape());
  const double sum = fused_pass(t.n, t.k, grad.data<float>(), [&](std::int64_t r, std::int64_t k, float* g) {
    const float w = t.w(r, k), y = t.y(r, k);
    const Logistic l(x[r * t.k + k], y);
    *g = w == 0.0f ? 0.0f : w * scale * (l.p - y);
    return w == 0.0f ? 0.0 : static_cast<double>(w) * l.bce;
  });
  return fused_loss_output(sum * loss_weight / avg_factor, pred, grad, op);
}

Tensor sigmoid_focal_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, double avg_factor,
                          float alpha, float gamma, float loss_weight) {
  const char* op = "sigmoid_focal_loss";
  check_avg(avg_factor, op);
  GHM_CHECK(gamma >= 0.0f && alpha >= 0.0f && alpha <= 1.0f, op, ": need gamma >= 0 and alpha in [0, 1], got gamma ",
            gamma, ", alpha ", alpha);
  const ClassTargets t = make_class_targets(pred, target, label_weight, op);
  const float* x = pred.data<float>();
  const float scale = static_cast<float>(loss_weight / avg_factor);
  Tensor grad = Tensor::empty(pred.shape());
  const double sum = fused_pass(t.n, t.k, grad.data<float>(), [&](std::int64_t r, std::int64_t k, float* g) {
    const float w = t.w(r, k);
    if (w == 0.0f) {
      *g = 0.0f;
      return 0.0;
    }
    const float y = t.y(r, k);
    const Logistic l(x[r * t.k + k], y);
    const float a = alpha * y + (1.0f - alpha) * (1.0f - y);
    const float q = l.p + y - 2.0f * l.p * y;
    const float q_gamma = std::pow(q, gamma);
    const float dq = (1.0f - 2.0f * y) * l.p * (1.0f - l.p);
    const float first = q > 0.0f ? gamma * std::pow(q, gamma - 1.0f) * dq * l.bce : 0.0f;
    *g = w * scale * a * (first + q_gamma * (l.p - y));
    return static_cast<double>(w) * a * q_gamma * l.bce;
  });
  return fused_loss_output(sum * loss_weight / avg_factor, pred, grad, op);
}

Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, const Tensor& weight, double avg_factor, float beta,
                      float loss_weight) {
  const char* op = "smooth_l1_loss";
  check_avg(avg_factor, op);
  check_regression(pred, target, weight, op);
  GHM_CHECK(beta > 0.0f, op, ": beta must be positive, got ", beta);
  const float* x = pred.data<float>();
  const float* y = target.data<float>();
  const float* wt = weight.data<float>();
  const std::int64_t cols = pred.size(1);
  const float scale = static_cast<float>(loss_weight / avg_factor);
  Tensor grad = Tensor::empty(pred.shape());
  const double sum = fused_pass(pred.size(0), cols, grad.data<float>(), [&](std::int64_t r, std::int64_t k, float* g) {
    const std::int64_t i = r * cols + k;
    const float d = x[i] - y[i], ad = std::abs(d), w = wt[i];
    const bool quadratic = ad < beta;
    *g = w == 0.0f ? 0.0f : w * scale * (quadratic ? d / beta : (d > 0.0f ? 1.0f : -1.0f));
    return w == 0.0f ? 0.0 : static_cast<double>(w) * (quadratic ? 0.5f * d * d / beta : ad - 0.5f * beta);
  });
  return fused_loss_output(sum * loss_weight / avg_factor, pred, grad, op);
}

Tensor asl1_loss(const Tensor& pred, const Tensor& target, const Tensor& weight, double avg_factor, float mu,
                 float loss_weight) {
  const char* op = "asl1_loss";
  check_avg(avg_factor, op);
  check_regression(pred, target, weight, op);
  GHM_CHECK(mu > 0.0f, op, ": mu must be positive, got ", mu);
  const float* x = pred.data<float>();
  const float* y = target.data<float>();
  const float* wt = weight.data<float>();
  const std::int64_t cols = pred.size(1);
  const float mu2 = static_cast<float>(static_cast<double>(mu) * mu);
  const float scale = static_cast<float>(loss_weight / avg_factor);
  Tensor grad = Tensor::empty(pred.shape());
  const double sum = fused_pass(pred.size(0), cols, grad.data<float>(), [&](std::int64_t r, std::int64_t k, float* g) {
    const std::int64_t i = r * cols + k;
    const float d = x[i] - y[i], s = std::sqrt(d * d + mu2), w = wt[i];
    *g = w == 0.0f ? 0.0f : w * scale * d / s;
    return w == 0.0f ? 0.0 : static_cast<double>(w) * (s - mu);
  });
  return fused_loss_output(sum * loss_weight / avg_factor, pred, grad, op);
}

}  // namespace ghm::losses
