// GHM-C on the CPU: the element math below, the three passes in losses/cpu/ghm_cpu.h.
//
// Per element (x logit, y target):  t = exp(-|x|);  p = sigmoid(x) = x >= 0 ? 1/(1+t) : t/(1+t)
//   g = |p - y|,   l = max(x, 0) - x*y + log1p(t)   (stable BCE with logits),   d = p - y
// When g falls within a few ulps of a bin edge, p is recomputed in double and rounded once, so
// the bin is the correctly rounded one.
#include "losses/ghm_c.h"

#include <cmath>

#include "core/autograd.h"
#include "losses/class_targets.h"
#include "losses/cpu/ghm_cpu.h"
#include "losses/fused_loss.h"

namespace ghm::losses {

GhmcResult ghm_c_forward(const Tensor& pred, const Tensor& target, const Tensor& label_weight, const GhmcParams& params,
                         GhmEmaState& state, std::span<const std::int64_t> level_rows, ElementWeights keep) {
  const ClassTargets t = make_class_targets(pred, target, label_weight, "ghm_c_loss");
  const std::vector<std::int64_t> rows = call_rows(level_rows, t.n, "ghm_c_loss");
  if (params.momentum > 0.0 && state.acc_sum.empty()) state.acc_sum.assign(static_cast<std::size_t>(params.bins), 0.0f);
  const cpu::GhmCallConfig cfg{params.bins, params.momentum, params.loss_weight, kGhmcLastEdge, cpu::GhmTot::CountValid};

  GhmcResult r;
  r.grad = Tensor::empty(pred.shape());
  if (keep == ElementWeights::Keep) r.element_weight = Tensor::empty(pred.shape());
  const float* x = pred.data<float>();
  for (std::size_t c = 0; c + 1 < rows.size(); ++c) {
    const std::int64_t r0 = rows[c], base = r0 * t.k;
    auto eval = [&](std::int64_t b0, std::int64_t b1, float* g, float* lw, float* loss, float* d) {
      for (std::int64_t rr = b0; rr < b1; ++rr) {
        const std::int64_t row = r0 + rr, o = (rr - b0) * t.k;
        const float* xr = x + row * t.k;
        const std::int64_t label = t.labels ? t.labels[row] : -1;
        const float* yr = t.onehot ? t.onehot + row * t.k : nullptr;
        const float* wr = t.weight_per_row ? nullptr : t.weight + row * t.k;
        const float row_weight = t.weight_per_row ? t.weight[row] : 0.0f;
#pragma omp simd
        for (std::int64_t col = 0; col < t.k; ++col) {
          const float xi = xr[col];
          const float y = yr ? yr[col] : (col == label ? 1.0f : 0.0f);
          const float ex = std::exp(-std::abs(xi));
          const float p = xi >= 0.0f ? 1.0f / (1.0f + ex) : ex / (1.0f + ex);
          d[o + col] = p - y;
          g[o + col] = std::abs(p - y);
          loss[o + col] = std::max(xi, 0.0f) - xi * y + std::log1p(ex);
          lw[o + col] = wr ? wr[col] : row_weight;
        }
      }
    };
    auto precise_g = [&](std::int64_t rr, std::int64_t col) {
      const std::int64_t row = r0 + rr;
      const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(x[row * t.k + col])));
      return static_cast<float>(std::abs(static_cast<double>(static_cast<float>(p)) - t.y(row, col)));
    };
    r.calls.push_back(cpu::ghm_call(cfg, rows[c + 1] - r0, t.k, eval, precise_g, state.acc_sum, r.grad.data<float>() + base,
                                    r.element_weight.defined() ? r.element_weight.data<float>() + base : nullptr));
    r.total += r.calls.back().loss;
  }
  r.loss = Tensor::scalar(static_cast<float>(r.total));
  return r;
}

Tensor ghm_c_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, const GhmcParams& params,
                  GhmEmaState& state, std::span<const std::int64_t> level_rows, std::vector<GhmCallStats>* stats) {
  GhmcResult r = ghm_c_forward(pred, target, label_weight, params, state, level_rows);
  if (stats) *stats = std::move(r.calls);
  return fused_loss_output(r.total, pred, r.grad, "ghm_c_loss");
}

}  // namespace ghm::losses
