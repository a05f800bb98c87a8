// GHM-C with the exact density: evaluate the valid elements, sort their g, then count each
// element's window by two binary searches in the sorted array (parallel over elements).
#include "losses/ghm_c_exact.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu/parallel.h"
#include "losses/class_targets.h"
#include "losses/fused_loss.h"

namespace ghm::losses {

GhmResult ghm_c_exact_forward(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                              const GhmcExactParams& params, std::span<const std::int64_t> level_rows,
                              ElementWeights keep) {
  const char* op = "ghm_c_exact_loss";
  check_defined(pred, op, "pred");
  GHM_CHECK(pred.device().is_cpu(), op, ": runs on the CPU only (a sort per call), pred is on ", pred.device(),
            "; move the inputs with .to(Device::cpu()) or use ghm_c_loss");
  const ClassTargets t = make_class_targets(pred, target, label_weight, op);
  GHM_CHECK(params.epsilon > 0.0 && params.epsilon <= 1.0, op, ": epsilon must be in (0, 1], got ", params.epsilon);
  const std::vector<std::int64_t> rows = call_rows(level_rows, t.n, op);
  const float* x = pred.data<float>();
  const double half = params.epsilon / 2.0;

  GhmResult r;
  r.grad = Tensor::zeros(pred.shape());
  if (keep == ElementWeights::Keep) r.element_weight = Tensor::zeros(pred.shape());
  float* grad = r.grad.data<float>();
  float* beta_out = r.element_weight.defined() ? r.element_weight.data<float>() : nullptr;
  for (std::size_t c = 0; c + 1 < rows.size(); ++c) {
    // Pass 1: g, loss and d of the valid elements (serial: keeps the element order fixed).
    std::vector<std::int64_t> index;
    std::vector<float> g, loss, d;
    for (std::int64_t row = rows[c]; row < rows[c + 1]; ++row)
      for (std::int64_t col = 0; col < t.k; ++col) {
        if (!(t.w(row, col) > 0.0f)) continue;
        const float xi = x[row * t.k + col], y = t.y(row, col);
        const float ex = std::exp(-std::abs(xi));
        const float p = xi >= 0.0f ? 1.0f / (1.0f + ex) : ex / (1.0f + ex);
        index.push_back(row * t.k + col);
        d.push_back(p - y);
        g.push_back(std::abs(p - y));
        loss.push_back(std::max(xi, 0.0f) - xi * y + std::log1p(ex));
      }
    const auto valid = static_cast<std::int64_t>(index.size());
    std::vector<float> sorted = g;
    std::sort(sorted.begin(), sorted.end());
    // Pass 2: density and weighted gradient; loss partials per fixed chunk.
    constexpr std::int64_t kChunk = 1 << 14;
    const std::int64_t chunks = (valid + kChunk - 1) / kChunk;
    std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
    const double tot = std::max<double>(static_cast<double>(valid), 1.0);
    ghm::cpu::parallel_for(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t ch = c0; ch < c1; ++ch) {
        double acc = 0;
        for (std::int64_t i = ch * kChunk, end = std::min(valid, (ch + 1) * kChunk); i < end; ++i) {
          const double gi = g[static_cast<std::size_t>(i)];
          const auto lo = std::lower_bound(sorted.begin(), sorted.end(), static_cast<float>(gi - half));
          const auto hi = std::lower_bound(sorted.begin(), sorted.end(), static_cast<float>(gi + half));
          const double length = std::min(gi + half, 1.0) - std::max(gi - half, 0.0);
          const double density = static_cast<double>(hi - lo) / length;  // >= 1 / length: g_i is in its window
          const double beta = tot / density;
          acc += beta * loss[static_cast<std::size_t>(i)];
          const std::int64_t e = index[static_cast<std::size_t>(i)];
          grad[e] = static_cast<float>(params.loss_weight * beta / tot * d[static_cast<std::size_t>(i)]);
          if (beta_out) beta_out[e] = static_cast<float>(beta);
        }
        partial[static_cast<std::size_t>(ch)] = acc;
      }
    });
    GhmCallStats stats;
    stats.tot = tot;
    for (double p : partial) stats.loss += p;
    stats.loss = stats.loss / tot * params.loss_weight;
    r.total += stats.loss;
    r.calls.push_back(std::move(stats));
  }
  r.loss = Tensor::scalar(static_cast<float>(r.total));
  return r;
}

Tensor ghm_c_exact_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                        const GhmcExactParams& params, std::span<const std::int64_t> level_rows) {
  GhmResult r = ghm_c_exact_forward(pred, target, label_weight, params, level_rows);
  return fused_loss_output(r.total, pred, r.grad, "ghm_c_exact_loss");
}

}  // namespace ghm::losses
