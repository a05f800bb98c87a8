#include "nn/classifier.h"

#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "nn/init.h"

namespace ghm::nn {
namespace {

// A module that only holds fc's two tensors, so that their names are fc.weight and fc.bias.
class Linear : public Module {
 public:
  Linear(std::int64_t in, std::int64_t out, Generator& gen) {
    Tensor w = Tensor::empty(Shape{out, in});
    normal(w, 0.0f, 0.01f, gen);
    weight = register_parameter("weight", w);
    bias = register_parameter("bias", Tensor::zeros(Shape{out}));
  }
  Tensor weight, bias;
};

}  // namespace

ResNetClassifier::ResNetClassifier(const ResNetConfig& config, int num_classes, Generator& gen)
    : num_classes_(num_classes) {
  GHM_CHECK(num_classes >= 2, "ResNetClassifier: num_classes ", num_classes, " must be at least 2");
  backbone_ = register_module("backbone", std::make_shared<ResNet>(config, gen));
  auto fc = register_module("fc", std::make_shared<Linear>(backbone_->out_channels().back(), num_classes, gen));
  fc_weight_ = fc->weight;
  fc_bias_ = fc->bias;
}

Tensor ResNetClassifier::forward(const Tensor& images) {
  const Tensor pooled = mean(backbone_->forward(images).back(), {2, 3});  // [N, C]
  return add(matmul(pooled, permute(fc_weight_, {1, 0})), fc_bias_);
}

}  // namespace ghm::nn
