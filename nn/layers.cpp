#include "nn/layers.h"

#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/shape_ops.h"
#include "core/ops/conv.h"
#include "core/ops/norm.h"
#include "nn/init.h"

namespace ghm::nn {

Conv2d::Conv2d(std::int64_t in, std::int64_t out, int kernel, int stride, int pad, Bias with_bias, Generator& gen,
               int groups, int dilation)
    : params(Conv2dParams::square(stride, pad, dilation, groups)) {
  GHM_CHECK(in % groups == 0 && out % groups == 0, "Conv2d: ", in, " -> ", out, " channels not divisible by groups ",
            groups);
  Tensor w = Tensor::empty(Shape{out, in / groups, kernel, kernel});
  kaiming_normal_fan_out(w, gen);
  weight = register_parameter("weight", w);
  if (with_bias == Bias::Yes) bias = register_parameter("bias", Tensor::zeros(Shape{out}));
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params); }

BatchNorm2d::BatchNorm2d(std::int64_t channels, float m, float e) : momentum(m), eps(e) {
  weight = register_parameter("weight", Tensor::ones(Shape{channels}));
  bias = register_parameter("bias", Tensor::zeros(Shape{channels}));
  running_mean = register_buffer("running_mean", Tensor::zeros(Shape{channels}));
  running_var = register_buffer("running_var", Tensor::ones(Shape{channels}));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  return batch_norm(x, weight, bias, running_mean, running_var,
                    is_training() ? BatchNormMode::Train : BatchNormMode::Eval, momentum, eps, sync.get());
}

FrozenBatchNorm2d::FrozenBatchNorm2d(std::int64_t channels, float e) : eps(e) {
  weight = register_buffer("weight", Tensor::ones(Shape{channels}));
  bias = register_buffer("bias", Tensor::zeros(Shape{channels}));
  running_mean = register_buffer("running_mean", Tensor::zeros(Shape{channels}));
  running_var = register_buffer("running_var", Tensor::ones(Shape{channels}));
}

Tensor FrozenBatchNorm2d::forward(const Tensor& x) {
  return frozen_batch_norm(x, weight, bias, running_mean, running_var, eps);
}

GroupNorm::GroupNorm(int g, std::int64_t channels, float e) : groups(g), eps(e) {
  GHM_CHECK(g > 0 && channels % g == 0, "GroupNorm: ", channels, " channels are not divisible into ", g, " groups");
  weight = register_parameter("weight", Tensor::ones(Shape{channels}));
  bias = register_parameter("bias", Tensor::zeros(Shape{channels}));
}

Tensor GroupNorm::forward(const Tensor& x) { return group_norm(x, groups, weight, bias, eps); }

Linear::Linear(std::int64_t in, std::int64_t out, Generator& gen) {
  GHM_CHECK(in > 0 && out > 0, "Linear: sizes ", in, " -> ", out, " must be positive");
  Tensor w = Tensor::empty(Shape{out, in});
  normal(w, 0.0f, 0.01f, gen);
  weight = register_parameter("weight", w);
  bias = register_parameter("bias", Tensor::zeros(Shape{out}));
}

Tensor Linear::forward(const Tensor& x) {
  GHM_CHECK(x.dim() == 2 && x.size(1) == weight.size(1), "Linear: input must be [N, ", weight.size(1), "], got ",
            x.shape());
  return add(matmul(x, permute(weight, {1, 0})), bias);
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, params); }

Sequential& Sequential::add(std::shared_ptr<UnaryModule> m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  // Convolutions take the frozen batch norm and the ReLU that follow them (conv_norm_relu).
  Tensor y = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const auto* conv = dynamic_cast<const Conv2d*>(layers_[i].get());
    if (conv == nullptr) {
      y = layers_[i]->forward(y);
      continue;
    }
    UnaryModule* norm = nullptr;
    if (i + 1 < layers_.size() && dynamic_cast<FrozenBatchNorm2d*>(layers_[i + 1].get()) != nullptr)
      norm = layers_[++i].get();
    const bool relu = i + 1 < layers_.size() && dynamic_cast<ReLU*>(layers_[i + 1].get()) != nullptr;
    if (relu) ++i;
    y = conv_norm_relu(*conv, norm, relu, y);
  }
  return y;
}

Tensor conv_norm_relu(const Conv2d& conv, UnaryModule* norm, bool relu, const Tensor& x) {
  Tensor w = conv.weight, b = conv.bias;
  if (const auto* frozen = dynamic_cast<const FrozenBatchNorm2d*>(norm)) {
    const ChannelAffine a =
        frozen_batch_norm_affine(frozen->weight, frozen->bias, frozen->running_mean, frozen->running_var, frozen->eps);
    w = mul(w, a.scale.reshape({a.scale.numel(), 1, 1, 1}));
    b = b.defined() ? add(mul(b, a.scale), a.shift) : a.shift;
    norm = nullptr;
  }
  if (norm != nullptr) {
    const Tensor y = norm->forward(conv2d(x, w, b, conv.params));
    return relu ? ghm::relu(y) : y;
  }
  return relu ? conv2d_relu(x, w, b, conv.params) : conv2d(x, w, b, conv.params);
}

std::shared_ptr<UnaryModule> make_norm(NormKind kind, std::int64_t channels) {
  if (kind == NormKind::BatchNorm || kind == NormKind::SyncBatchNorm) return std::make_shared<BatchNorm2d>(channels);
  return std::make_shared<FrozenBatchNorm2d>(channels);
}

int attach_batch_norm_sync(Module& module, const std::shared_ptr<const BatchNormSync>& sync) {
  int attached = 0;
  if (auto* bn = dynamic_cast<BatchNorm2d*>(&module)) {
    bn->sync = sync;
    ++attached;
  }
  for (const auto& [name, child] : module.children()) attached += attach_batch_norm_sync(*child, sync);
  return attached;
}

}  // namespace ghm::nn
