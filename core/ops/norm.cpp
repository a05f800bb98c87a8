// Batch normalisation: forward and backward side by side. Per channel c, over M = N*H*W values:
//
//   train:  mu, var = batch mean, biased variance;  inv = 1/sqrt(var + eps);  xh = (x - mu) * inv
//           y = gamma * xh + beta
//           dbeta = sum dy;  dgamma = sum dy * xh;  dx = gamma * inv / M * (M dy - dbeta - xh * dgamma)
//   eval:   the same y with the running mean/var; dx = dy * gamma * inv (the statistics are constants)
//   frozen: y = x * scale + shift; dx = dy * scale
//   group:  the train formulas with statistics per (image, group of C/G channels), in every mode
//
// Every step runs the kernel of the input's device: cpu::name (core/cpu/norm_cpu.h) or its twin
// cuda::name (core/cuda/norm_cuda.h), same arguments. Per-channel vectors (statistics, scale and
// shift, gradient sums) are tensors on that device, so nothing goes through the host.
#include "core/ops/norm.h"

#include <cmath>
#include <optional>
#include <vector>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/shape_ops.h"
#include "core/cpu/norm_cpu.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/norm_cuda.h"
#endif

// Calls cuda::name(args...) with the tensors' device current when `device` is a CUDA device,
// cpu::name(args...) otherwise.
#if GHM_WITH_CUDA
#define GHM_NORM_KERNEL(device, name, ...)                  \
  do {                                                      \
    if ((device).is_cuda()) {                               \
      const ::ghm::cuda::DeviceGuard guard_((device).index); \
      ::ghm::cuda::name(__VA_ARGS__);                       \
    } else {                                                \
      ::ghm::cpu::name(__VA_ARGS__);                        \
    }                                                       \
  } while (0)
#else
#define GHM_NORM_KERNEL(device, name, ...) ::ghm::cpu::name(__VA_ARGS__)
#endif

namespace ghm {

// The per-channel steps that have no kernel in core/cpu/norm_cpu.h: short loops over C, twins of
// the cuda:: functions of the same names.
namespace cpu {
namespace {

void batch_norm_update_running(const float* mean, const float* var, std::int64_t c, float momentum, float unbias,
                               float* running_mean, float* running_var) {
  for (std::int64_t ch = 0; ch < c; ++ch) {
    running_mean[ch] = (1 - momentum) * running_mean[ch] + momentum * mean[ch];
    running_var[ch] = (1 - momentum) * running_var[ch] + momentum * var[ch] * unbias;
  }
}

void batch_norm_scale_shift(const float* mean, const float* var, const float* gamma, const float* beta,
                            std::int64_t c, float eps, float* inv_std, float* scale, float* shift) {
  for (std::int64_t ch = 0; ch < c; ++ch) {
    inv_std[ch] = 1.0f / std::sqrt(var[ch] + eps);
    scale[ch] = (gamma != nullptr ? gamma[ch] : 1.0f) * inv_std[ch];
    shift[ch] = (beta != nullptr ? beta[ch] : 0.0f) - mean[ch] * scale[ch];
  }
}

void frozen_batch_norm_scale_shift(const float* gamma, const float* beta, const float* running_mean,
                                   const float* running_var, std::int64_t c, float eps, float* scale, float* shift) {
  for (std::int64_t ch = 0; ch < c; ++ch) {
    scale[ch] = (gamma != nullptr ? gamma[ch] : 1.0f) / std::sqrt(running_var[ch] + eps);
    shift[ch] = (beta != nullptr ? beta[ch] : 0.0f) - running_mean[ch] * scale[ch];
  }
}

}  // namespace
}  // namespace cpu

namespace {

struct BnDims {
  std::int64_t n, c, s;
};

void check_vec(const Tensor& t, std::int64_t c, Device device, const char* op, const char* arg) {
  check_dtype(t, DType::F32, op, arg);
  GHM_CHECK(t.dim() == 1 && t.size(0) == c, op, ": ", arg, " must be [", c, "], got ", t.shape());
  GHM_CHECK(t.device() == device, op, ": ", arg, " is on ", t.device(), ", the input on ", device);
}

BnDims input_dims(const Tensor& x, const char* op) {
  check_dtype(x, DType::F32, op, "input");
  GHM_CHECK(x.dim() >= 2, op, ": input must be [N, C, ...], got ", x.shape());
  BnDims d{x.size(0), x.size(1), 1};
  for (int i = 2; i < x.dim(); ++i) d.s *= x.shape()[i];
  return d;
}

BnDims check_bn(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& rm, const Tensor& rv,
                const char* op) {
  const BnDims d = input_dims(x, op);
  if (weight.defined()) check_vec(weight, d.c, x.device(), op, "weight");
  if (bias.defined()) check_vec(bias, d.c, x.device(), op, "bias");
  check_vec(rm, d.c, x.device(), op, "running_mean");
  check_vec(rv, d.c, x.device(), op, "running_var");
  return d;
}

// A float tensor's elements for the kernels of its device (checked host access on the CPU, the
// device address on CUDA); null for an undefined tensor (affine off, a gradient not wanted).
const float* data_of(const Tensor& t) {
  if (!t.defined()) return nullptr;
  return t.device().is_cuda() ? t.device_data<float>() : t.data<float>();
}
float* data_of(Tensor& t) {
  if (!t.defined()) return nullptr;
  return t.device().is_cuda() ? t.device_data<float>() : t.data<float>();
}

Tensor channel_vector(std::int64_t c, Device device) { return Tensor::empty(Shape{c}, DType::F32, device); }

void check_grad_device(const Tensor& dy, Device device, const char* op) {
  GHM_CHECK(dy.device() == device, op, " backward: gradient on ", dy.device(), ", input on ", device);
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  BatchNormMode mode, float momentum, float eps, const BatchNormSync* sync) {
  const BnDims d = check_bn(x, weight, bias, running_mean, running_var, "batch_norm");
  const Device dev = x.device();
  Tensor mean, var;
  std::int64_t count = d.n * d.s;  // values per channel: this process's, or with sync every process's
  std::optional<BatchNormSync> synced;
  if (mode == BatchNormMode::Train && sync != nullptr) synced = *sync;
  if (mode == BatchNormMode::Train) {
    mean = channel_vector(d.c, dev);
    var = channel_vector(d.c, dev);
    GHM_NORM_KERNEL(dev, channel_mean_var, data_of(x), d.n, d.c, d.s, data_of(mean), data_of(var));
    if (synced) count = synced->combine(mean, var, count);
    GHM_CHECK(count > 1, "batch_norm: training needs more than one value per channel, input ", x.shape());
    const float unbias = static_cast<float>(count) / static_cast<float>(count - 1);
    GHM_NORM_KERNEL(dev, batch_norm_update_running, data_of(mean), data_of(var), d.c, momentum, unbias,
                    data_of(running_mean), data_of(running_var));
  } else {
    // The statistics as they are now: the backward pass must not see a later update of the buffers.
    mean = running_mean.detach().clone();
    var = running_var.detach();
  }
  Tensor inv_std = channel_vector(d.c, dev), scale = channel_vector(d.c, dev), shift = channel_vector(d.c, dev);
  GHM_NORM_KERNEL(dev, batch_norm_scale_shift, data_of(mean), data_of(var), data_of(weight), data_of(bias), d.c, eps,
                  data_of(inv_std), data_of(scale), data_of(shift));
  Tensor y = Tensor::empty(x.shape(), DType::F32, dev);
  GHM_NORM_KERNEL(dev, channel_affine, data_of(x), data_of(scale), data_of(shift), data_of(y), d.n, d.c, d.s);

  const bool need_x = needs_grad({&x}), need_w = needs_grad({&weight}), need_b = needs_grad({&bias});
  const bool train_dx = need_x && mode == BatchNormMode::Train;
  // x only where backward reads it: the sums for dgamma and dbeta and a training dx. It stays float32
  // under bf16 (unlike conv2d's; core/saved_activation.h): x_hat from a rounded x would change the
  // gradient, where keeping the convolutions' activations in 16 bits changes no bit of it.
  record_op(y, "batch_norm", {&x, &weight, &bias},
            [d, dev, need_x, need_w, need_b, train_dx, x_saved = need_w || need_b || train_dx ? x.detach() : Tensor(),
             gamma = weight.defined() ? weight.detach() : Tensor(), mean, inv_std, scale, synced,
             count](const Tensor& dy) {
              check_grad_device(dy, dev, "batch_norm");
              Tensor sum_dy, sum_dy_xhat;  // dbeta and dgamma
              if (need_w || need_b || train_dx) {
                sum_dy = channel_vector(d.c, dev);
                sum_dy_xhat = channel_vector(d.c, dev);
                GHM_NORM_KERNEL(dev, channel_grad_sums, data_of(dy), data_of(x_saved), data_of(mean), data_of(inv_std),
                                d.n, d.c, d.s, data_of(sum_dy), data_of(sum_dy_xhat));
              }
              Tensor dx;
              if (train_dx) {
                // Synchronised: the sums over every process, scaled by this count / the total, since
                // the kernel divides by this process's count.
                Tensor dx_sum_dy = sum_dy, dx_sum_dy_xhat = sum_dy_xhat;
                if (synced) {
                  Tensor both = concat({sum_dy, sum_dy_xhat}, 0);  // [2C]
                  synced->sum(both);
                  both = mul_scalar(both, static_cast<float>(static_cast<double>(d.n * d.s) / static_cast<double>(count)));
                  dx_sum_dy = narrow(both, 0, 0, d.c);
                  dx_sum_dy_xhat = narrow(both, 0, d.c, d.c);
                }
                dx = Tensor::empty(dy.shape(), DType::F32, dev);
                GHM_NORM_KERNEL(dev, batch_norm_train_backward_input, data_of(dy), data_of(x_saved), data_of(mean),
                                data_of(inv_std), data_of(gamma), data_of(dx_sum_dy), data_of(dx_sum_dy_xhat),
                                data_of(dx), d.n, d.c, d.s);
              } else if (need_x) {
                dx = Tensor::empty(dy.shape(), DType::F32, dev);
                const Tensor zero = Tensor::zeros(Shape{d.c}, DType::F32, dev);
                GHM_NORM_KERNEL(dev, channel_affine, data_of(dy), data_of(scale), data_of(zero), data_of(dx), d.n, d.c,
                                d.s);
              }
              return std::vector<Tensor>{dx, need_w ? sum_dy_xhat : Tensor(), need_b ? sum_dy : Tensor()};
            });
  return y;
}

ChannelAffine frozen_batch_norm_affine(const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                                       const Tensor& running_var, float eps) {
  const char* op = "frozen_batch_norm_affine";
  check_dtype(running_mean, DType::F32, op, "running_mean");
  GHM_CHECK(running_mean.dim() == 1 && running_var.shape() == running_mean.shape(), op, ": running_mean ",
            running_mean.shape(), " and running_var ", running_var.shape(), " must both be [C]");
  const std::int64_t c = running_mean.numel();
  const Device dev = running_mean.device();
  check_vec(running_var, c, dev, op, "running_var");
  if (weight.defined()) check_vec(weight, c, dev, op, "weight");
  if (bias.defined()) check_vec(bias, c, dev, op, "bias");
  ChannelAffine a{channel_vector(c, dev), channel_vector(c, dev)};
  GHM_NORM_KERNEL(dev, frozen_batch_norm_scale_shift, data_of(weight), data_of(bias), data_of(running_mean),
                  data_of(running_var), c, eps, data_of(a.scale), data_of(a.shift));
  return a;
}

Tensor frozen_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, float eps) {
  const BnDims d = check_bn(x, weight, bias, running_mean, running_var, "frozen_batch_norm");
  const Device dev = x.device();
  ChannelAffine a = frozen_batch_norm_affine(weight, bias, running_mean, running_var, eps);
  Tensor y = Tensor::empty(x.shape(), DType::F32, dev);
  GHM_NORM_KERNEL(dev, channel_affine, data_of(x), data_of(a.scale), data_of(a.shift), data_of(y), d.n, d.c, d.s);
  record_op(y, "frozen_batch_norm", {&x}, [d, scale = a.scale](const Tensor& dy) {
    const Device dev = scale.device();
    check_grad_device(dy, dev, "frozen_batch_norm");
    const Tensor zero = Tensor::zeros(Shape{d.c}, DType::F32, dev);
    Tensor dx = Tensor::empty(dy.shape(), DType::F32, dev);
    GHM_NORM_KERNEL(dev, channel_affine, data_of(dy), data_of(scale), data_of(zero), data_of(dx), d.n, d.c, d.s);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor group_norm(const Tensor& x, int groups, const Tensor& weight, const Tensor& bias, float eps) {
  const BnDims d = input_dims(x, "group_norm");
  GHM_CHECK(groups > 0 && d.c % groups == 0, "group_norm: ", d.c, " channels are not divisible into ", groups, " groups");
  const Device dev = x.device();
  if (weight.defined()) check_vec(weight, d.c, dev, "group_norm", "weight");
  if (bias.defined()) check_vec(bias, d.c, dev, "group_norm", "bias");
  Tensor y = Tensor::empty(x.shape(), DType::F32, dev);
  Tensor mean = Tensor::empty(Shape{d.n * groups}, DType::F32, dev);
  Tensor inv_std = Tensor::empty(Shape{d.n * groups}, DType::F32, dev);
  GHM_NORM_KERNEL(dev, group_norm_forward, data_of(x), data_of(weight), data_of(bias), data_of(y), data_of(mean),
                  data_of(inv_std), d.n, d.c, d.s, groups, eps);
  const bool need_x = needs_grad({&x}), need_w = needs_grad({&weight}), need_b = needs_grad({&bias});
  record_op(y, "group_norm", {&x, &weight, &bias},
            [d, groups, need_x, need_w, need_b, x_saved = x.detach(), w_saved = weight.defined() ? weight.detach() : Tensor(),
             mean, inv_std](const Tensor& dy) {
              const Device dev = x_saved.device();
              check_grad_device(dy, dev, "group_norm");
              Tensor dx = need_x ? Tensor::empty(x_saved.shape(), DType::F32, dev) : Tensor();
              Tensor dw = need_w ? channel_vector(d.c, dev) : Tensor();
              Tensor db = need_b ? channel_vector(d.c, dev) : Tensor();
              GHM_NORM_KERNEL(dev, group_norm_backward, data_of(dy), data_of(x_saved), data_of(w_saved), data_of(mean),
                              data_of(inv_std), data_of(dx), data_of(dw), data_of(db), d.n, d.c, d.s, groups);
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

}  // namespace ghm

#undef GHM_NORM_KERNEL
