// Batch normalisation: forward and backward side by side. Per channel c, over M = N*H*W values:
//
//   train:  mu, var = batch mean, biased variance;  inv = 1/sqrt(var + eps);  xh = (x - mu) * inv
//           y = gamma * xh + beta
//           dbeta = sum dy;  dgamma = sum dy * xh;  dx = gamma * inv / M * (M dy - dbeta - xh * dgamma)
//   eval:   the same y with the running mean/var; dx = dy * gamma * inv (the statistics are constants)
//   frozen: y = x * scale + shift; dx = dy * scale
//   group:  the train formulas with statistics per (image, group of C/G channels), in every mode
#include "core/ops/norm.h"

#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/cpu/norm_cpu.h"

namespace ghm {
namespace {

struct BnDims {
  std::int64_t n, c, s;
};

void check_vec(const Tensor& t, std::int64_t c, const char* op, const char* arg) {
  check_dtype(t, DType::F32, op, arg);
  GHM_CHECK(t.dim() == 1 && t.size(0) == c, op, ": ", arg, " must be [", c, "], got ", t.shape());
}

BnDims check_bn(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& rm, const Tensor& rv,
                const char* op) {
  check_dtype(x, DType::F32, op, "input");
  GHM_CHECK(x.dim() >= 2, op, ": input must be [N, C, ...], got ", x.shape());
  BnDims d{x.size(0), x.size(1), 1};
  for (int i = 2; i < x.dim(); ++i) d.s *= x.shape()[i];
  if (weight.defined()) check_vec(weight, d.c, op, "weight");
  if (bias.defined()) check_vec(bias, d.c, op, "bias");
  check_vec(rm, d.c, op, "running_mean");
  check_vec(rv, d.c, op, "running_var");
  return d;
}

std::vector<float> values_or(const Tensor& t, std::int64_t n, float fallback) {
  return t.defined() ? t.to_vector<float>() : std::vector<float>(static_cast<std::size_t>(n), fallback);
}

// dgamma and dbeta from the per-channel sums, as tensors (undefined where not needed).
std::pair<Tensor, Tensor> affine_grads(const std::vector<float>& sum_dy, const std::vector<float>& sum_dy_xhat,
                                       bool need_w, bool need_b) {
  const std::int64_t c = static_cast<std::int64_t>(sum_dy.size());
  return {need_w ? Tensor::from_vector(sum_dy_xhat, Shape{c}) : Tensor(),
          need_b ? Tensor::from_vector(sum_dy, Shape{c}) : Tensor()};
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  BatchNormMode mode, float momentum, float eps) {
  const BnDims d = check_bn(x, weight, bias, running_mean, running_var, "batch_norm");
  const auto C = static_cast<std::size_t>(d.c);
  std::vector<float> mean(C), var(C), inv_std(C);
  if (mode == BatchNormMode::Train) {
    GHM_CHECK(d.n * d.s > 1, "batch_norm: training needs more than one value per channel, input ", x.shape());
    cpu::channel_mean_var(x.data<float>(), d.n, d.c, d.s, mean.data(), var.data());
    float* rm = running_mean.data<float>();
    float* rv = running_var.data<float>();
    const float unbias = static_cast<float>(d.n * d.s) / static_cast<float>(d.n * d.s - 1);
    for (std::size_t c = 0; c < C; ++c) {
      rm[c] = (1 - momentum) * rm[c] + momentum * mean[c];
      rv[c] = (1 - momentum) * rv[c] + momentum * var[c] * unbias;
    }
  } else {
    mean = running_mean.to_vector<float>();
    var = running_var.to_vector<float>();
  }
  const std::vector<float> gamma = values_or(weight, d.c, 1.0f), beta = values_or(bias, d.c, 0.0f);
  std::vector<float> scale(C), shift(C);
  for (std::size_t c = 0; c < C; ++c) {
    inv_std[c] = 1.0f / std::sqrt(var[c] + eps);
    scale[c] = gamma[c] * inv_std[c];
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  Tensor y = Tensor::empty(x.shape());
  cpu::channel_affine(x.data<float>(), scale.data(), shift.data(), y.data<float>(), d.n, d.c, d.s);

  const bool need_x = needs_grad({&x}), need_w = needs_grad({&weight}), need_b = needs_grad({&bias});
  record_op(y, "batch_norm", {&x, &weight, &bias},
            [d, mode, need_x, need_w, need_b, x_saved = x.detach(), mean, inv_std, gamma, scale](const Tensor& dy) {
              const auto C = static_cast<std::size_t>(d.c);
              std::vector<float> sum_dy(C), sum_dy_xhat(C);
              cpu::channel_grad_sums(dy.data<float>(), x_saved.data<float>(), mean.data(), inv_std.data(), d.n, d.c,
                                     d.s, sum_dy.data(), sum_dy_xhat.data());
              Tensor dx;
              if (need_x) {
                dx = Tensor::empty(x_saved.shape());
                if (mode == BatchNormMode::Train) {
                  cpu::batch_norm_train_backward_input(dy.data<float>(), x_saved.data<float>(), mean.data(),
                                                       inv_std.data(), gamma.data(), sum_dy.data(), sum_dy_xhat.data(),
                                                       dx.data<float>(), d.n, d.c, d.s);
                } else {
                  const std::vector<float> zero(C, 0.0f);
                  cpu::channel_affine(dy.data<float>(), scale.data(), zero.data(), dx.data<float>(), d.n, d.c, d.s);
                }
              }
              auto [dw, db] = affine_grads(sum_dy, sum_dy_xhat, need_w, need_b);
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

namespace {

// scale = weight / sqrt(running_var + eps), shift = bias - running_mean * scale, per channel.
void frozen_scale_shift(const Tensor& weight, const Tensor& bias, const Tensor& running_mean, const Tensor& running_var,
                        float eps, std::int64_t channels, std::vector<float>& scale, std::vector<float>& shift) {
  const auto C = static_cast<std::size_t>(channels);
  const std::vector<float> gamma = values_or(weight, channels, 1.0f), beta = values_or(bias, channels, 0.0f);
  const std::vector<float> rm = running_mean.to_vector<float>(), rv = running_var.to_vector<float>();
  scale.assign(C, 0.0f);
  shift.assign(C, 0.0f);
  for (std::size_t c = 0; c < C; ++c) {
    scale[c] = gamma[c] / std::sqrt(rv[c] + eps);
    shift[c] = beta[c] - rm[c] * scale[c];
  }
}

}  // namespace

ChannelAffine frozen_batch_norm_affine(const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                                       const Tensor& running_var, float eps) {
  check_dtype(running_mean, DType::F32, "frozen_batch_norm_affine", "running_mean");
  const std::int64_t c = running_mean.numel();
  GHM_CHECK(running_mean.dim() == 1 && running_var.shape() == running_mean.shape(),
            "frozen_batch_norm_affine: running_mean ", running_mean.shape(), " and running_var ", running_var.shape(),
            " must both be [C]");
  std::vector<float> scale, shift;
  frozen_scale_shift(weight, bias, running_mean, running_var, eps, c, scale, shift);
  return {Tensor::from_vector(scale, Shape{c}), Tensor::from_vector(shift, Shape{c})};
}

Tensor frozen_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, float eps) {
  const BnDims d = check_bn(x, weight, bias, running_mean, running_var, "frozen_batch_norm");
  std::vector<float> scale, shift;
  frozen_scale_shift(weight, bias, running_mean, running_var, eps, d.c, scale, shift);
  Tensor y = Tensor::empty(x.shape());
  cpu::channel_affine(x.data<float>(), scale.data(), shift.data(), y.data<float>(), d.n, d.c, d.s);
  record_op(y, "frozen_batch_norm", {&x}, [d, scale](const Tensor& dy) {
    const std::vector<float> zero(scale.size(), 0.0f);
    Tensor dx = Tensor::empty(dy.shape());
    cpu::channel_affine(dy.data<float>(), scale.data(), zero.data(), dx.data<float>(), d.n, d.c, d.s);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor group_norm(const Tensor& x, int groups, const Tensor& weight, const Tensor& bias, float eps) {
  check_dtype(x, DType::F32, "group_norm", "input");
  GHM_CHECK(x.dim() >= 2, "group_norm: input must be [N, C, ...], got ", x.shape());
  BnDims d{x.size(0), x.size(1), 1};
  for (int i = 2; i < x.dim(); ++i) d.s *= x.shape()[i];
  GHM_CHECK(groups > 0 && d.c % groups == 0, "group_norm: ", d.c, " channels are not divisible into ", groups, " groups");
  if (weight.defined()) check_vec(weight, d.c, "group_norm", "weight");
  if (bias.defined()) check_vec(bias, d.c, "group_norm", "bias");
  Tensor y = Tensor::empty(x.shape());
  auto mean = std::make_shared<std::vector<float>>(static_cast<std::size_t>(d.n * groups));
  auto inv_std = std::make_shared<std::vector<float>>(static_cast<std::size_t>(d.n * groups));
  cpu::group_norm_forward(x.data<float>(), weight.defined() ? weight.data<float>() : nullptr,
                          bias.defined() ? bias.data<float>() : nullptr, y.data<float>(), mean->data(), inv_std->data(),
                          d.n, d.c, d.s, groups, eps);
  const bool need_x = needs_grad({&x}), need_w = needs_grad({&weight}), need_b = needs_grad({&bias});
  record_op(y, "group_norm", {&x, &weight, &bias},
            [d, groups, need_x, need_w, need_b, x_saved = x.detach(), w_saved = weight.defined() ? weight.detach() : Tensor(),
             mean, inv_std](const Tensor& dy) {
              Tensor dx = need_x ? Tensor::empty(x_saved.shape()) : Tensor();
              Tensor dw = need_w ? Tensor::empty(Shape{d.c}) : Tensor();
              Tensor db = need_b ? Tensor::empty(Shape{d.c}) : Tensor();
              cpu::group_norm_backward(dy.data<float>(), x_saved.data<float>(),
                                       w_saved.defined() ? w_saved.data<float>() : nullptr, mean->data(), inv_std->data(),
                                       need_x ? dx.data<float>() : nullptr, need_w ? dw.data<float>() : nullptr,
                                       need_b ? db.data<float>() : nullptr, d.n, d.c, d.s, groups);
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

}  // namespace ghm
