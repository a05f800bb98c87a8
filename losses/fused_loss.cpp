#include "losses/fused_loss.h"

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "losses/cuda/baselines_cuda.h"
#endif

namespace ghm::losses {
namespace {

// d_pred = upstream * grad, upstream a one-element tensor. On the CPU the value is read (and an
// upstream of 1 hands the stored gradient back as it is); on a CUDA device a kernel reads it there,
// so the backward does not wait for the device.
Tensor scale_stored_gradient(const Tensor& grad, const Tensor& upstream) {
#if GHM_WITH_CUDA
  if (upstream.device().is_cuda()) {
    GHM_CHECK(upstream.device() == grad.device(), "fused loss backward: upstream gradient on ", upstream.device(),
              ", loss on ", grad.device());
    check_dtype(upstream, DType::F32, "fused loss backward", "upstream gradient");
    const ghm::cuda::DeviceGuard guard(grad.device().index);
    Tensor d_pred = Tensor::empty(grad.shape(), DType::F32, grad.device());
    cuda::fused_loss_backward(grad.device_data<float>(), upstream.device_data<float>(), d_pred.device_data<float>(),
                              grad.numel());
    return d_pred;
  }
#endif
  const float u = upstream.item();
  return u == 1.0f ? grad : mul_scalar(grad, u);
}

}  // namespace

Tensor fused_loss_output(double value, const Tensor& pred, const Tensor& grad, const char* name) {
  Tensor loss = Tensor::scalar(static_cast<float>(value));
  record_op(loss, name, {&pred},
            [grad](const Tensor& g) { return std::vector<Tensor>{scale_stored_gradient(grad, g)}; });
  return loss;
}

Tensor fused_loss_output(const Tensor& value, const Tensor& pred, const Tensor& grad, const char* name) {
  GHM_CHECK(value.numel() == 1 && value.dim() == 0 && value.dtype() == DType::F32 && value.device() == pred.device(),
            name, ": the loss value must be a [] f32 tensor on ", pred.device(), ", got ", value.dtype(), " ",
            value.shape(), " on ", value.device());
  Tensor loss = value;
  record_op(loss, name, {&pred},
            [grad](const Tensor& g) { return std::vector<Tensor>{scale_stored_gradient(grad, g)}; });
  return loss;
}

}  // namespace ghm::losses
