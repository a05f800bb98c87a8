// GHM-C on the CPU: the element math below, the three passes in losses/cpu/ghm_cpu.h. A CUDA pred
// runs the same passes on its device (losses/cuda/ghm_cuda.cu).
//
// Per element (x logit, y target):  t = exp(-|x|);  p = sigmoid(x) = x >= 0 ? 1/(1+t) : t/(1+t)
//   g = |p - y|,   l = max(x, 0) - x*y + log1p(t)   (stable BCE with logits),   d = p - y
// exp and log1p are the vectorising approximations of core/cpu/fast_math.h (<= 2.2 ulp for p).
// When g falls within a few ulps of a bin edge, p is recomputed in double and rounded once, so
// the bin is the correctly rounded one.
#include "losses/ghm_c.h"

#include <cmath>

#include "core/autograd.h"
#include "core/cpu/fast_math.h"
#include "losses/class_targets.h"
#include "losses/cpu/ghm_cpu.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "losses/cuda/ghm_cuda.h"
#endif

namespace ghm::losses {
namespace {

constexpr const char* kOp = "ghm_c_loss";

// One GHM-C call over rows [r0, r1) of x [N, K] with targets t (see cpu::ghm_calls).
GhmCallStats ghm_c_cpu_call(const GhmSettings& settings, const float* x, const ClassTargets& t, std::int64_t r0,
                            std::int64_t r1, GhmEmaState& state, float* grad, float* element_weight) {
  // Locals, not members of t: stores through the float pointers could otherwise alias them, and the
  // loop would reload them every element.
  const std::int64_t k = t.k;
  const float* onehot = t.onehot;
  const std::int64_t* labels = t.labels;
  const float* weight = t.weight;
  const bool per_row = t.weight_per_row;
  auto eval = [=](std::int64_t b0, std::int64_t b1, float* __restrict g, float* __restrict lw, float* __restrict loss,
                  float* __restrict d) {
    for (std::int64_t rr = b0; rr < b1; ++rr) {
      const std::int64_t row = r0 + rr, o = (rr - b0) * k;
      const float* xr = x + row * k;
      if (per_row) std::fill_n(lw + o, k, weight[row]);
      else std::copy_n(weight + row * k, k, lw + o);
      if (onehot) {
        const float* yr = onehot + row * k;
#pragma omp simd
        for (std::int64_t col = 0; col < k; ++col) {
          const ghm::cpu::LogisticParts lp = ghm::cpu::logistic_parts(xr[col], yr[col]);
          d[o + col] = lp.p - yr[col];
          g[o + col] = std::abs(lp.p - yr[col]);
          loss[o + col] = lp.bce;
        }
      } else {
        const std::int64_t label = labels[row];
#pragma omp simd
        for (std::int64_t col = 0; col < k; ++col) {
          const float y = col == label ? 1.0f : 0.0f;
          const ghm::cpu::LogisticParts lp = ghm::cpu::logistic_parts(xr[col], y);
          d[o + col] = lp.p - y;
          g[o + col] = std::abs(lp.p - y);
          loss[o + col] = lp.bce;
        }
      }
    }
  };
  auto precise_g = [&](std::int64_t rr, std::int64_t col) {
    const std::int64_t row = r0 + rr;
    const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(x[row * t.k + col])));
    return static_cast<float>(std::abs(static_cast<double>(static_cast<float>(p)) - t.y(row, col)));
  };
  return cpu::ghm_call(settings, r1 - r0, t.k, eval, precise_g, state.acc_sum, state.across, grad, element_weight);
}

#if GHM_WITH_CUDA
// The same op on pred's CUDA device (losses/cuda/ghm_cuda.h): every call in one set of launches,
// the results left on the device.
cuda::GhmRun ghm_c_cuda(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                        const GhmSettings& settings, GhmEmaState& state, std::span<const std::int64_t> level_rows,
                        ElementWeights keep) {
  const DeviceClassTargets t = make_device_class_targets(pred, target, label_weight, kOp);
  const std::vector<std::int64_t> rows = call_rows(level_rows, t.n, kOp);
  check_ghm_call(settings, GhmKind::Classification, state, kOp);
  const ghm::cuda::DeviceGuard guard(pred.device().index);
  return cuda::ghm_c_calls(settings, pred, t, rows, state, keep);
}
#endif

}  // namespace

GhmcResult ghm_c_forward(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                         const GhmSettings& settings, GhmEmaState& state, std::span<const std::int64_t> level_rows,
                         ElementWeights keep) {
#if GHM_WITH_CUDA
  if (pred.defined() && pred.device().is_cuda())
    return cuda::read_result(ghm_c_cuda(pred, target, label_weight, settings, state, level_rows, keep));
#endif
  const ClassTargets t = make_class_targets(pred, target, label_weight, kOp);
  const std::vector<std::int64_t> rows = call_rows(level_rows, t.n, kOp);
  state.sync_to_host();  // after CUDA calls, S is current on the device
  check_ghm_call(settings, GhmKind::Classification, state, kOp);
  const float* x = pred.data<float>();
  return cpu::ghm_calls(pred, rows, keep, [&](std::int64_t r0, std::int64_t r1, float* grad, float* element_weight) {
    return ghm_c_cpu_call(settings, x, t, r0, r1, state, grad, element_weight);
  });
}

Tensor ghm_c_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, const GhmSettings& settings,
                  GhmEmaState& state, std::span<const std::int64_t> level_rows, std::vector<GhmCallStats>* stats) {
#if GHM_WITH_CUDA
  if (pred.defined() && pred.device().is_cuda()) {  // no host synchronisation unless the statistics are asked for
    const cuda::GhmRun run = ghm_c_cuda(pred, target, label_weight, settings, state, level_rows, ElementWeights::Skip);
    return cuda::ghm_loss_output(run, pred, stats, kOp);
  }
#endif
  return cpu::ghm_loss_output(ghm_c_forward(pred, target, label_weight, settings, state, level_rows), pred, stats, kOp);
}

}  // namespace ghm::losses
