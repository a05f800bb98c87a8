// Softmax cross-entropy (the math is in softmax_ce.h): one pass per row computes the max, the sum
// of exponentials, the row's loss and its gradient; rows are summed in fixed chunks in a fixed
// order, so the value is the same for any thread count. CUDA inputs run the same formulas on their
// device (losses/cuda/softmax_ce_cuda.cu).
#include "losses/softmax_ce.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu/parallel.h"
#include "losses/fused_loss.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "losses/cuda/softmax_ce_cuda.h"
#endif

namespace ghm::losses {
namespace {

constexpr std::int64_t kRowsPerChunk = 256;

void check_inputs(const Tensor& pred, const Tensor& labels, double avg_factor, const char* op) {
  GHM_CHECK(avg_factor > 0.0, op, ": avg_factor must be positive, got ", avg_factor);
  check_dtype(pred, DType::F32, op, "pred");
  check_dtype(labels, DType::I64, op, "labels");
  GHM_CHECK(pred.dim() == 2 && pred.size(1) > 0, op, ": pred must be [N, K] with K > 0, got ", pred.shape());
  GHM_CHECK(labels.dim() == 1 && labels.size(0) == pred.size(0), op, ": labels must be [N] = [", pred.size(0),
            "], got ", labels.shape());
  GHM_CHECK(labels.device() == pred.device(), op, ": pred on ", pred.device(), ", labels on ", labels.device(),
            " must be on one device");
}

}  // namespace

Tensor softmax_cross_entropy_loss(const Tensor& pred, const Tensor& labels, double avg_factor, float loss_weight) {
  const char* op = "softmax_cross_entropy_loss";
  check_inputs(pred, labels, avg_factor, op);
  const std::int64_t n = pred.size(0), k = pred.size(1);
  const float scale = static_cast<float>(loss_weight / avg_factor);
#if GHM_WITH_CUDA
  if (pred.device().is_cuda()) {
    const ghm::cuda::DeviceGuard guard(pred.device().index);
    Tensor grad = Tensor::empty(pred.shape(), DType::F32, pred.device());
    Tensor loss = Tensor::empty(Shape{}, DType::F32, pred.device());
    Tensor bad = Tensor::zeros(Shape{1}, DType::I64, pred.device());
    cuda::softmax_cross_entropy_loss(pred.device_data<float>(), labels.device_data<std::int64_t>(), n, k, avg_factor,
                                     loss_weight, grad.device_data<float>(), loss.device_data<float>(),
                                     bad.device_data<std::int64_t>());
    const std::int64_t first_bad = bad.to(Device::cpu()).data<std::int64_t>()[0];
    GHM_CHECK(first_bad == 0, op, ": label ", first_bad - 1, " is outside [0, ", k, ") and is not -1");
    return fused_loss_output(loss, pred, grad, op);
  }
#endif
  const float* x = pred.data<float>();
  const std::int64_t* y = labels.data<std::int64_t>();
  for (std::int64_t r = 0; r < n; ++r)
    GHM_CHECK(y[r] == -1 || (y[r] >= 0 && y[r] < k), op, ": label ", y[r], " of row ", r, " is outside [0, ", k,
              ") and is not -1");
  Tensor grad = Tensor::empty(pred.shape());
  float* g = grad.data<float>();
  const std::int64_t chunks = (n + kRowsPerChunk - 1) / kRowsPerChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
  ghm::cpu::parallel_for(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      double acc = 0;
      for (std::int64_t r = c * kRowsPerChunk, end = std::min(n, (c + 1) * kRowsPerChunk); r < end; ++r) {
        const float* xr = x + r * k;
        float* gr = g + r * k;
        if (y[r] < 0) {
          std::fill(gr, gr + k, 0.0f);
          continue;
        }
        float m = xr[0];
        for (std::int64_t j = 1; j < k; ++j) m = std::max(m, xr[j]);
        float sum = 0;
        for (std::int64_t j = 0; j < k; ++j) sum += std::exp(xr[j] - m);
        const float inv = 1.0f / sum;
        for (std::int64_t j = 0; j < k; ++j) gr[j] = scale * std::exp(xr[j] - m) * inv;
        gr[y[r]] -= scale;
        acc += static_cast<double>((m - xr[y[r]]) + std::log(sum));  // m - x_y first: exact when it is large
      }
      partial[static_cast<std::size_t>(c)] = acc;
    }
  });
  double total = 0;
  for (const double p : partial) total += p;
  return fused_loss_output(total * loss_weight / avg_factor, pred, grad, op);
}

}  // namespace ghm::losses
