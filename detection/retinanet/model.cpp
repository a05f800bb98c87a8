#include "detection/retinanet/model.h"

#include "nn/init.h"

namespace ghm::detection {
namespace {

std::shared_ptr<nn::Conv2d> head_conv(std::int64_t in, std::int64_t out, Generator& gen, float bias,
                                      nn::Bias with_bias = nn::Bias::Yes) {
  auto conv = std::make_shared<nn::Conv2d>(in, out, 3, 1, 1, with_bias, gen);
  nn::normal(conv->weight, 0.0f, 0.01f, gen);
  if (with_bias == nn::Bias::Yes) nn::constant(conv->bias, bias);
  return conv;
}

std::shared_ptr<nn::Sequential> tower(const RetinaNetConfig& c, Generator& gen) {
  auto t = std::make_shared<nn::Sequential>();
  for (int i = 0; i < c.head_convs; ++i) {
    if (c.head_group_norm > 0) {
      t->add(head_conv(c.width, c.width, gen, 0.0f, nn::Bias::No));
      t->add(std::make_shared<nn::GroupNorm>(c.head_group_norm, c.width));
    } else {
      t->add(head_conv(c.width, c.width, gen, 0.0f));
    }
    t->add(std::make_shared<nn::ReLU>());
  }
  return t;
}

}  // namespace

RetinaHead::RetinaHead(const RetinaNetConfig& c, Generator& gen) {
  GHM_CHECK(c.num_classes > 0 && c.anchors_per_location > 0, "RetinaHead: need classes and anchors, got K = ",
            c.num_classes, ", A = ", c.anchors_per_location);
  cls_tower_ = register_module("cls_tower", tower(c, gen));
  box_tower_ = register_module("box_tower", tower(c, gen));
  cls_logits_ = register_module(
      "cls_logits", head_conv(c.width, c.anchors_per_location * c.num_classes, gen, nn::prior_bias(c.prior)));
  box_pred_ = register_module("box_pred", head_conv(c.width, c.anchors_per_location * 4, gen, 0.0f));
}

void RetinaHead::forward(const std::vector<Tensor>& features, std::vector<Tensor>& cls, std::vector<Tensor>& box) {
  cls.clear();
  box.clear();
  for (const Tensor& f : features) {
    cls.push_back(cls_logits_->forward(cls_tower_->forward(f)));
    box.push_back(box_pred_->forward(box_tower_->forward(f)));
  }
}

RetinaNet::RetinaNet(const RetinaNetConfig& config, Generator& gen) : config_(config) {
  backbone_ = register_module("backbone", std::make_shared<nn::ResNet>(config.backbone, gen));
  const std::vector<std::int64_t> ch = backbone_->out_channels();
  fpn_ = register_module("fpn", std::make_shared<nn::FPN>(std::vector<std::int64_t>{ch[1], ch[2], ch[3]}, config.width,
                                                          config.p6_source, gen));
  head_ = register_module("head", std::make_shared<RetinaHead>(config, gen));
}

RetinaNetOutput RetinaNet::forward(const Tensor& images) {
  const std::vector<Tensor> c = backbone_->forward(images);
  RetinaNetOutput out;
  out.features = fpn_->forward({c[1], c[2], c[3]});
  head_->forward(out.features, out.cls_logits, out.box_deltas);
  return out;
}

}  // namespace ghm::detection
