// RetinaNet (Lin et al. 2017): backbone (ResNet/ResNeXt) -> FPN P3..P7 -> one head shared by all
// levels. The head has a classification and a box tower of 4 x (3x3 conv + ReLU) of width 256,
// then a 3x3 conv to A*K class logits (bias = the prior -log((1 - pi) / pi), pi = 0.01) and a 3x3
// conv to A*4 box deltas; head convs start from N(0, 0.01) with zero bias. A = 9 anchors.
// Optionally each tower conv is followed by GroupNorm (then the conv has no bias).
#pragma once

#include <vector>

#include "nn/fpn.h"
#include "nn/resnet.h"

namespace ghm::detection {

struct RetinaNetConfig {
  nn::ResNetConfig backbone;
  std::int64_t num_classes = 80;
  std::int64_t anchors_per_location = 9;
  std::int64_t width = 256;        // FPN and head channels
  int head_convs = 4;
  int head_group_norm = 0;         // 0: plain towers; G > 0: conv (no bias) + GroupNorm(G) + ReLU, as
                                   // torchvision's retinanet_resnet50_fpn_v2 (G = 32)
  nn::P6Source p6_source = nn::P6Source::C5;
  float prior = 0.01f;
};

struct RetinaNetOutput {
  std::vector<Tensor> features;    // P3..P7: [N, width, H_l, W_l]
  std::vector<Tensor> cls_logits;  // per level: [N, A*K, H_l, W_l]
  std::vector<Tensor> box_deltas;  // per level: [N, A*4, H_l, W_l]
};

class RetinaHead : public nn::Module {
 public:
  RetinaHead(const RetinaNetConfig& config, Generator& gen);
  // The same weights on every level.
  void forward(const std::vector<Tensor>& features, std::vector<Tensor>& cls, std::vector<Tensor>& box);

 private:
  std::shared_ptr<nn::Sequential> cls_tower_, box_tower_;
  std::shared_ptr<nn::Conv2d> cls_logits_, box_pred_;
};

class RetinaNet : public nn::Module {
 public:
  RetinaNet(const RetinaNetConfig& config, Generator& gen);
  RetinaNetOutput forward(const Tensor& images);  // images [N, 3, H, W]
  const RetinaNetConfig& config() const { return config_; }

 private:
  RetinaNetConfig config_;
  std::shared_ptr<nn::ResNet> backbone_;
  std::shared_ptr<nn::FPN> fpn_;
  std::shared_ptr<RetinaHead> head_;
};

}  // namespace ghm::detection
