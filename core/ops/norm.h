// Differentiable batch normalisation over [N, C, H, W] (statistics per channel C).
#pragma once

#include <cstdint>
#include <functional>

#include "core/tensor.h"

namespace ghm {

enum class BatchNormMode { Train, Eval };

// Batch statistics over the batches of several processes (synchronised batch norm; dist/ makes
// one over a job's processes). Every process calls both in the same order.
//   combine(mean, var, count): this process's [C] mean and biased variance over `count` values
//     per channel become those over every process's values (in place, on x's device); returns the
//     total count;
//   sum(t): t ([K] f32, on x's device) summed over the processes, in place.
struct BatchNormSync {
  std::function<std::int64_t(Tensor& mean, Tensor& var, std::int64_t count)> combine;
  std::function<void(Tensor& t)> sum;
};

// Train: normalises with the batch mean and biased variance, then updates the running buffers in
// place: running = (1 - momentum) * running + momentum * batch_stat (unbiased variance), as in
// PyTorch. Eval: normalises with the running buffers. weight/bias ([C]) may be undefined (affine off).
// With `sync` (Train only), the statistics are those of every process's batch together, and the
// input's gradient sums dy and dy * xhat over them too, as PyTorch's SyncBatchNorm; weight and bias
// get this process's own gradient (data-parallel training averages it over the processes).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  BatchNormMode mode, float momentum = 0.1f, float eps = 1e-5f, const BatchNormSync* sync = nullptr);

// y = x * scale + shift with scale = weight / sqrt(running_var + eps), shift = bias - running_mean * scale.
// Everything but x is a frozen buffer (torchvision's FrozenBatchNorm2d): only x gets a gradient.
Tensor frozen_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, float eps = 1e-5f);

// The [C] scale and shift of that affine map (constants, no autograd), e.g. to fold it into the
// preceding convolution: conv(x, W) * scale + shift = conv(x, W * scale) + shift.
struct ChannelAffine {
  Tensor scale, shift;
};
ChannelAffine frozen_batch_norm_affine(const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                                       const Tensor& running_var, float eps = 1e-5f);

// Group normalisation (Wu & He 2018): statistics per image and per group of C / groups channels,
// then a per-channel affine weight/bias ([C], may be undefined). Same in training and evaluation.
Tensor group_norm(const Tensor& x, int groups, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

}  // namespace ghm
