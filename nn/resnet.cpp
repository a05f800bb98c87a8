// ResNet blocks. Bottleneck (expansion 4), with width = planes * (width_per_group / 64) * groups:
//   1x1 in -> width, BN, ReLU;  3x3 stride s, groups g, BN, ReLU;  1x1 width -> 4 planes, BN;
//   + identity (or downsample: 1x1 stride s + BN), ReLU.
// BasicBlock (expansion 1): 3x3 stride s, BN, ReLU; 3x3, BN; + identity/downsample, ReLU.
#include "nn/resnet.h"

#include "core/ops/elementwise.h"

namespace ghm::nn {
namespace {

// Sets a norm layer's "weight" (a parameter, or a buffer when frozen) to zeros.
void zero_norm_weight(const Module& norm) {
  auto named = norm.named_parameters();
  for (auto& buffer : norm.named_buffers()) named.push_back(buffer);
  for (auto& [name, tensor] : named)
    if (name == "weight") tensor.copy_from(Tensor::zeros(tensor.shape()));
}

class Block : public UnaryModule {
 public:
  Block(bool bottleneck, std::int64_t inplanes, std::int64_t planes, int stride, const ResNetConfig& c, Generator& gen) {
    const std::int64_t expansion = bottleneck ? 4 : 1;
    const std::int64_t width = bottleneck ? planes * c.width_per_group / 64 * c.groups : planes;
    if (bottleneck) {
      convs_.push_back(register_module("conv1", std::make_shared<Conv2d>(inplanes, width, 1, 1, 0, Bias::No, gen)));
      norms_.push_back(register_module("bn1", make_norm(c.norm, width)));
      convs_.push_back(
          register_module("conv2", std::make_shared<Conv2d>(width, width, 3, stride, 1, Bias::No, gen, c.groups)));
      norms_.push_back(register_module("bn2", make_norm(c.norm, width)));
      convs_.push_back(register_module("conv3", std::make_shared<Conv2d>(width, planes * 4, 1, 1, 0, Bias::No, gen)));
      norms_.push_back(register_module("bn3", make_norm(c.norm, planes * 4)));
    } else {
      convs_.push_back(register_module("conv1", std::make_shared<Conv2d>(inplanes, planes, 3, stride, 1, Bias::No, gen)));
      norms_.push_back(register_module("bn1", make_norm(c.norm, planes)));
      convs_.push_back(register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, 1, 1, Bias::No, gen)));
      norms_.push_back(register_module("bn2", make_norm(c.norm, planes)));
    }
    if (stride != 1 || inplanes != planes * expansion) {
      auto ds = std::make_shared<Sequential>();
      ds->add(std::make_shared<Conv2d>(inplanes, planes * expansion, 1, stride, 0, Bias::No, gen));
      ds->add(make_norm(c.norm, planes * expansion));
      downsample_ = register_module("downsample", ds);
    }
    if (c.zero_init_residual) zero_norm_weight(*norms_.back());
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (std::size_t i = 0; i < convs_.size(); ++i)
      y = conv_norm_relu(*convs_[i], norms_[i].get(), i + 1 < convs_.size(), y);
    return add_relu(y, downsample_ ? downsample_->forward(x) : x);
  }

 private:
  std::vector<std::shared_ptr<Conv2d>> convs_;
  std::vector<std::shared_ptr<UnaryModule>> norms_;
  std::shared_ptr<Sequential> downsample_;
};

std::vector<int> stage_blocks(int depth) {
  switch (depth) {
    case 18: return {2, 2, 2, 2};
    case 34: return {3, 4, 6, 3};
    case 50: return {3, 4, 6, 3};
    case 101: return {3, 4, 23, 3};
    case 152: return {3, 8, 36, 3};
  }
  GHM_FAIL("ResNet: depth ", depth, " is not one of 18, 34, 50, 101, 152");
}

}  // namespace

ResNet::ResNet(const ResNetConfig& config, Generator& gen) : config_(config) {
  const std::vector<int> blocks = stage_blocks(config.depth);
  const bool bottleneck = config.depth >= 50;
  GHM_CHECK(bottleneck || (config.groups == 1 && config.width_per_group == 64),
            "ResNet: groups/width_per_group (ResNeXt) need a bottleneck depth (50, 101, 152)");
  GHM_CHECK(config.frozen_stages >= 0 && config.frozen_stages <= 4, "ResNet: frozen_stages ", config.frozen_stages,
            " must be in [0, 4]");
  GHM_CHECK(config.base_width > 0 && config.base_width <= 1024, "ResNet: base_width ", config.base_width,
            " must be in [1, 1024]");
  expansion_ = bottleneck ? 4 : 1;
  const std::int64_t base = config.base_width;
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(3, base, 7, 2, 3, Bias::No, gen));
  bn1_ = register_module("bn1", make_norm(config.norm, base));
  maxpool_ = std::make_shared<MaxPool2d>(Pool2dParams::square(3, 2, 1));
  std::int64_t inplanes = base;
  for (int s = 0; s < 4; ++s) {
    const std::int64_t planes = base << s;
    auto stage = std::make_shared<Sequential>();
    for (int b = 0; b < blocks[static_cast<std::size_t>(s)]; ++b) {
      stage->add(std::make_shared<Block>(bottleneck, inplanes, planes, b == 0 && s > 0 ? 2 : 1, config, gen));
      inplanes = planes * expansion_;
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  if (config.frozen_stages >= 1) {
    conv1_->set_requires_grad(false);
    bn1_->set_requires_grad(false);
  }
  for (int s = 0; s < config.frozen_stages; ++s) stages_[static_cast<std::size_t>(s)]->set_requires_grad(false);
}

std::vector<Tensor> ResNet::forward(const Tensor& images) {
  GHM_CHECK(images.dim() == 4 && images.size(1) == 3, "ResNet: images must be [N, 3, H, W], got ", images.shape());
  Tensor x = maxpool_->forward(conv_norm_relu(*conv1_, bn1_.get(), true, images));
  std::vector<Tensor> out;
  for (auto& stage : stages_) {
    x = stage->forward(x);
    out.push_back(x);
  }
  return out;
}

std::vector<std::int64_t> ResNet::out_channels() const {
  const std::int64_t base = config_.base_width;
  return {base * expansion_, 2 * base * expansion_, 4 * base * expansion_, 8 * base * expansion_};
}

}  // namespace ghm::nn
