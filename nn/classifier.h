// An image classifier on a ResNet body, as torchvision's models.resnet: the body's C5, global
// average pooling, one fully connected layer.
//
//   logits [N, K] = mean over H, W of C5 [N, C, H/32, W/32]  x  fc.weight^T [C, K]  +  fc.bias [K]
//
// Names: the body's tensors under "backbone." (exactly a detector's backbone names, so what
// `ghm_retinanet pretrain` trains loads into RetinaNet through train.init_weights), then
// "fc.weight" [K, C] and "fc.bias" [K] (torchvision's layout).
#pragma once

#include <memory>

#include "nn/resnet.h"

namespace ghm::nn {

class ResNetClassifier : public Module {
 public:
  // fc.weight ~ N(0, 0.01^2), fc.bias = 0; the body is initialised as a detector's.
  ResNetClassifier(const ResNetConfig& config, int num_classes, Generator& gen);
  Tensor forward(const Tensor& images);  // images [N, 3, H, W] -> logits [N, K]
  ResNet& backbone() { return *backbone_; }
  int num_classes() const { return num_classes_; }

 private:
  std::shared_ptr<ResNet> backbone_;
  int num_classes_ = 0;
  std::shared_ptr<Linear> fc_;  // weight [K, C], bias [K]
};

}  // namespace ghm::nn
