#include "nn/classifier.h"

#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "nn/init.h"

namespace ghm::nn {

ResNetClassifier::ResNetClassifier(const ResNetConfig& config, int num_classes, Generator& gen)
    : num_classes_(num_classes) {
  GHM_CHECK(num_classes >= 2, "ResNetClassifier: num_classes ", num_classes, " must be at least 2");
  backbone_ = register_module("backbone", std::make_shared<ResNet>(config, gen));
  fc_ = register_module("fc", std::make_shared<Linear>(backbone_->out_channels().back(), num_classes, gen));
}

Tensor ResNetClassifier::forward(const Tensor& images) {
  return fc_->forward(mean(backbone_->forward(images).back(), {2, 3}));  // pooled C5: [N, C]
}

}  // namespace ghm::nn
