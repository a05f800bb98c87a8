// End-to-end gradient check of a tiny RetinaNet (ResNet-18 body with batch norm in evaluation mode,
// narrow FPN and head): for several parameter tensors P, the directional derivative of
// L = sum(cls * R1) + sum(box * R2) along a random direction v, by central differences
// (L(P + eps v) - L(P - eps v)) / (2 eps), against <dL/dP, v> from autograd. This checks the
// wiring of the whole model's backward; each op's gradient is checked exactly elsewhere
// (the op table's finite-difference check, tests/ops/, and against PyTorch in tests/core/test_fixtures.cpp).
//
// Tolerance (why): L is a float32 computation through ~25 layers, so the step cannot be small:
// with |eps v| = 1e-3 of the parameters' RMS, the ReLUs and max-pool windows that switch inside
// the step leave errors of up to ~3% on the early layers (measured: 0.2-3%, the same for both
// convolution implementations). A wrong or missing backward along the path is off by O(1):
// rtol 5e-2. (Batch norm in training mode couples all elements of the batch and raises the
// finite-difference error to ~8%, too close to a real error to be a useful check here.)
#include <doctest/doctest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "detection/retinanet/model.h"

using namespace ghm;

namespace {

constexpr double kRelativeStep = 1e-3;

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) s += static_cast<double>(a.data<float>()[i]) * b.data<float>()[i];
  return s;
}

double loss_value(detection::RetinaNet& model, const Tensor& images, const std::vector<Tensor>& r_cls,
                  const std::vector<Tensor>& r_box) {
  NoGradGuard no_grad;
  const detection::RetinaNetOutput out = model.forward(images);
  double l = 0;
  for (std::size_t i = 0; i < out.cls_logits.size(); ++i) l += dot(out.cls_logits[i], r_cls[i]) + dot(out.box_deltas[i], r_box[i]);
  return l;
}

}  // namespace

TEST_CASE("model: gradients of a tiny RetinaNet match directional finite differences") {
  Generator gen(9);
  detection::RetinaNet model(
      {.backbone = {18, 1, 64, nn::NormKind::BatchNorm, 0}, .num_classes = 2, .width = 16, .head_convs = 1}, gen);
  model.eval();
  const Tensor images = Tensor::normal(Shape{2, 3, 64, 64}, 0, 1, gen);
  std::vector<Tensor> r_cls, r_box;
  Tensor loss;
  {
    const detection::RetinaNetOutput out = model.forward(images);
    for (std::size_t i = 0; i < out.cls_logits.size(); ++i) {
      r_cls.push_back(Tensor::uniform(out.cls_logits[i].shape(), -1, 1, gen));
      r_box.push_back(Tensor::uniform(out.box_deltas[i].shape(), -1, 1, gen));
      Tensor term = add(sum(mul(out.cls_logits[i], r_cls.back())), sum(mul(out.box_deltas[i], r_box.back())));
      loss = loss.defined() ? add(loss, term) : term;
    }
  }
  loss.backward();
  for (const char* name : {"backbone.conv1.weight", "backbone.layer2.0.conv2.weight", "backbone.layer4.1.bn2.weight",
                           "fpn.lateral.0.weight", "fpn.p6.weight", "head.cls_tower.0.weight", "head.box_pred.weight"}) {
    CAPTURE(name);
    Tensor p;
    for (const auto& [n, t] : model.named_parameters())
      if (n == name) p = t;
    REQUIRE(p.defined());
    REQUIRE(p.grad().defined());
    const Tensor v = Tensor::normal(p.shape(), 0, 1, gen);
    // |eps v| = 1e-2 of the parameter's RMS (at least 1e-2 per element for zero-initialised biases).
    const double rms_p = std::max(std::sqrt(dot(p, p) / static_cast<double>(p.numel())), 1e-2);
    const double scale = kRelativeStep * rms_p / std::sqrt(dot(v, v) / static_cast<double>(p.numel()));
    const Tensor saved = p.detach().clone();
    float* w = p.data<float>();
    for (std::int64_t i = 0; i < p.numel(); ++i) w[i] = saved.data<float>()[i] + static_cast<float>(scale) * v.data<float>()[i];
    const double lp = loss_value(model, images, r_cls, r_box);
    for (std::int64_t i = 0; i < p.numel(); ++i) w[i] = saved.data<float>()[i] - static_cast<float>(scale) * v.data<float>()[i];
    const double lm = loss_value(model, images, r_cls, r_box);
    std::copy_n(saved.data<float>(), p.numel(), w);
    const double numeric = (lp - lm) / (2 * scale);
    const double analytic = dot(p.grad(), v);
    MESSAGE(std::string(name), ": analytic ", analytic, ", numeric ", numeric);
    CHECK(std::abs(numeric - analytic) <= 5e-2 * std::abs(analytic));
  }
}
