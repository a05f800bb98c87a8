// ResNet and ResNeXt backbones in torchvision's layout (stride in the 3x3 conv of a bottleneck),
// with torchvision's parameter names (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...), so
// torchvision ImageNet weights load by name. forward() returns C2..C5 (strides 4, 8, 16, 32).
#pragma once

#include <vector>

#include "nn/layers.h"

namespace ghm::nn {

struct ResNetConfig {
  int depth = 50;             // 18, 34, 50, 101, 152
  int groups = 1;             // ResNeXt cardinality (32 or 64)
  int width_per_group = 64;   // ResNeXt bottleneck width (4 or 8)
  NormKind norm = NormKind::FrozenBatchNorm;
  int frozen_stages = 1;      // 0: nothing frozen; 1: stem + layer1 (the detection default); up to 4
  int base_width = 64;        // channels of the stem and of layer1's planes (doubling per stage); 64 is
                              // every torchvision ResNet, smaller values make light CPU models
  bool zero_init_residual = false;  // the last norm of every block starts with weight 0, so every
                                    // residual block starts as the identity (torchvision's option of
                                    // the same name; Goyal et al. 2017)
};

class ResNet : public Module {
 public:
  ResNet(const ResNetConfig& config, Generator& gen);
  std::vector<Tensor> forward(const Tensor& images);  // images [N, 3, H, W] -> {C2, C3, C4, C5}
  std::vector<std::int64_t> out_channels() const;     // channels of C2..C5

 private:
  ResNetConfig config_;
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<UnaryModule> bn1_;
  std::shared_ptr<MaxPool2d> maxpool_;
  std::vector<std::shared_ptr<Sequential>> stages_;
  std::int64_t expansion_ = 4;
};

}  // namespace ghm::nn
