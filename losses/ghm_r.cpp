// GHM-R on the CPU: the element math below, the three passes in losses/cpu/ghm_cpu.h. A CUDA pred
// runs the same passes on its device (losses/cuda/ghm_cuda.cu).
//
// Per element (x prediction, y target), with mu2 = float32(mu * mu) as the reference rounds it:
//   d = x - y;  s = sqrt(d*d + mu2);  l = s - mu (ASL1);  g = |d / s|;  dl/dx = d / s
// (g near a bin edge is recomputed in double and rounded once, as in GHM-C).
#include "losses/ghm_r.h"

#include <cmath>

#include "losses/cpu/ghm_cpu.h"
#include "losses/class_targets.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "losses/cuda/ghm_cuda.h"
#endif

namespace ghm::losses {
namespace {

constexpr const char* kOp = "ghm_r_loss";

void check_inputs(const Tensor& pred, const Tensor& target, const Tensor& label_weight) {
  check_dtype(pred, DType::F32, kOp, "pred");
  check_dtype(target, DType::F32, kOp, "target");
  check_dtype(label_weight, DType::F32, kOp, "label_weight");
  GHM_CHECK(pred.dim() == 2 && target.shape() == pred.shape() && label_weight.shape() == pred.shape(), kOp,
            ": pred ", pred.shape(), ", target ", target.shape(), " and label_weight ", label_weight.shape(),
            " must all be [N, D]");
  GHM_CHECK(target.device() == pred.device() && label_weight.device() == pred.device(), kOp, ": pred on ",
            pred.device(), ", target on ", target.device(), " and label_weight on ", label_weight.device(),
            " must be on one device");
}

#if GHM_WITH_CUDA
// The same op on pred's CUDA device (losses/cuda/ghm_cuda.h), the results left there.
cuda::GhmRun ghm_r_cuda(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                        const GhmSettings& settings, GhmEmaState& state, std::span<const std::int64_t> level_rows,
                        ElementWeights keep) {
  check_inputs(pred, target, label_weight);
  const std::vector<std::int64_t> rows = call_rows(level_rows, pred.size(0), kOp);
  check_ghm_call(settings, GhmKind::Regression, state, kOp);
  const ghm::cuda::DeviceGuard guard(pred.device().index);
  return cuda::ghm_r_calls(settings, pred, target, label_weight, rows, state, keep);
}
#endif

}  // namespace

GhmrResult ghm_r_forward(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                         const GhmSettings& settings, GhmEmaState& state, std::span<const std::int64_t> level_rows,
                         ElementWeights keep) {
#if GHM_WITH_CUDA
  if (pred.defined() && pred.device().is_cuda())
    return cuda::read_result(ghm_r_cuda(pred, target, label_weight, settings, state, level_rows, keep));
#endif
  check_inputs(pred, target, label_weight);
  const std::int64_t n = pred.size(0), dims = pred.size(1);
  const std::vector<std::int64_t> rows = call_rows(level_rows, n, kOp);
  state.sync_to_host();  // after CUDA calls, S is current on the device
  check_ghm_call(settings, GhmKind::Regression, state, kOp);
  const float mu = settings.mu();
  const float mu2 = settings.mu_squared();
  const float* x = pred.data<float>();
  const float* y = target.data<float>();
  const float* lw = label_weight.data<float>();
  return cpu::ghm_calls(pred, rows, keep, [&](std::int64_t r0, std::int64_t r1, float* grad, float* element_weight) {
    const std::int64_t base = r0 * dims;
    auto eval = [&](std::int64_t b0, std::int64_t b1, float* g, float* w, float* loss, float* d) {
      const std::int64_t first = base + b0 * dims, count = (b1 - b0) * dims;
#pragma omp simd
      for (std::int64_t j = 0; j < count; ++j) {
        const float di = x[first + j] - y[first + j];
        const float s = std::sqrt(di * di + mu2);
        loss[j] = s - mu;
        d[j] = di / s;
        g[j] = std::abs(di / s);
        w[j] = lw[first + j];
      }
    };
    auto precise_g = [&](std::int64_t rr, std::int64_t col) {
      const std::int64_t i = base + rr * dims + col;
      const double d = static_cast<double>(x[i] - y[i]);
      return static_cast<float>(std::abs(d / std::sqrt(d * d + static_cast<double>(mu2))));
    };
    return cpu::ghm_call(settings, r1 - r0, dims, eval, precise_g, state.acc_sum, state.across, grad,
                         element_weight);
  });
}

Tensor ghm_r_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, const GhmSettings& settings,
                  GhmEmaState& state, std::span<const std::int64_t> level_rows, std::vector<GhmCallStats>* stats) {
#if GHM_WITH_CUDA
  if (pred.defined() && pred.device().is_cuda()) {  // no host synchronisation unless the statistics are asked for
    const cuda::GhmRun run = ghm_r_cuda(pred, target, label_weight, settings, state, level_rows, ElementWeights::Skip);
    return cuda::ghm_loss_output(run, pred, stats, kOp);
  }
#endif
  return cpu::ghm_loss_output(ghm_r_forward(pred, target, label_weight, settings, state, level_rows), pred, stats, kOp);
}

}  // namespace ghm::losses
