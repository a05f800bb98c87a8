// Modules, backbones, FPN and the RetinaNet model: parameter counts equal torchvision's (0.14),
// names are stable, state round-trips through safetensors, strict and non-strict loading report
// what does not match, freezing stops gradients, and the forward pass has the right shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "detection/retinanet/model.h"
#include "io/safetensors.h"

using namespace ghm;

namespace {

nn::ResNetConfig trainable(int depth, int groups = 1, int width = 64) {
  return {depth, groups, width, nn::NormKind::BatchNorm, 0};
}

}  // namespace

TEST_CASE("nn: backbone parameter counts equal torchvision's (without the fc layer)") {
  Generator gen(1);
  // torchvision 0.14: sum of parameter sizes of resnetXX(weights=None) minus fc.
  CHECK(nn::ResNet(trainable(18), gen).num_parameters() == 11176512);
  CHECK(nn::ResNet(trainable(34), gen).num_parameters() == 21284672);
  CHECK(nn::ResNet(trainable(50), gen).num_parameters() == 23508032);
  CHECK(nn::ResNet(trainable(101), gen).num_parameters() == 42500160);
  CHECK(nn::ResNet(trainable(50, 32, 4), gen).num_parameters() == 22979904);  // resnext50_32x4d
  CHECK(nn::ResNet(trainable(152), gen).num_parameters() == 58143808);
  CHECK(nn::ResNet(trainable(101, 32, 8), gen).num_parameters() == 86742336);  // resnext101_32x8d
  CHECK(nn::ResNet(trainable(101, 64, 4), gen).num_parameters() == 81406272);  // resnext101_64x4d
  CHECK_THROWS_WITH_AS(nn::ResNet(trainable(42), gen), doctest::Contains("depth 42"), Error);
}

TEST_CASE("nn: RetinaNet-R50-FPN with 91 classes has torchvision's 34,068,119 parameters") {
  Generator gen(2);
  detection::RetinaNetConfig c;
  c.backbone = trainable(50);
  c.num_classes = 91;
  c.p6_source = nn::P6Source::P5;  // torchvision's retinanet_resnet50_fpn
  detection::RetinaNet model(c, gen);
  CHECK(model.num_parameters() == 34068119);
  const auto names = model.named_parameters();
  CHECK(names.front().first == "backbone.conv1.weight");
  bool has_block = false, has_head = false;
  for (const auto& [n, t] : names) {
    has_block = has_block || n == "backbone.layer1.0.downsample.0.weight";
    has_head = has_head || n == "head.cls_logits.bias";
  }
  CHECK(has_block);
  CHECK(has_head);
}

TEST_CASE("nn: RetinaNet-R50-FPN v2 layout (P6 from C5, GroupNorm heads) has torchvision's 38,198,935 parameters") {
  Generator gen(6);
  detection::RetinaNetConfig c;
  c.backbone = trainable(50);
  c.num_classes = 91;
  c.p6_source = nn::P6Source::C5;
  c.head_group_norm = 32;  // torchvision's retinanet_resnet50_fpn_v2
  CHECK(detection::RetinaNet(c, gen).num_parameters() == 38198935);
}

TEST_CASE("nn: forward shapes, prior bias, and a backward that reaches the trainable parameters only") {
  Generator gen(3);
  detection::RetinaNet model(
      {.backbone = {18, 1, 64, nn::NormKind::FrozenBatchNorm, 1}, .num_classes = 3, .width = 32, .head_convs = 2}, gen);
  const Tensor images = Tensor::normal(Shape{2, 3, 64, 96}, 0, 1, gen);
  const detection::RetinaNetOutput out = model.forward(images);
  REQUIRE(out.cls_logits.size() == 5);
  const std::int64_t sizes[5][2] = {{8, 12}, {4, 6}, {2, 3}, {1, 2}, {1, 1}};
  for (int l = 0; l < 5; ++l) {
    CAPTURE(l);
    CHECK(out.features[static_cast<std::size_t>(l)].shape() == Shape{2, 32, sizes[l][0], sizes[l][1]});
    CHECK(out.cls_logits[static_cast<std::size_t>(l)].shape() == Shape{2, 9 * 3, sizes[l][0], sizes[l][1]});
    CHECK(out.box_deltas[static_cast<std::size_t>(l)].shape() == Shape{2, 9 * 4, sizes[l][0], sizes[l][1]});
  }
  for (const auto& [n, t] : model.named_parameters())
    if (n == "head.cls_logits.bias") CHECK(t.data<float>()[0] == doctest::Approx(-std::log(99.0)).epsilon(1e-6));

  Tensor loss = sum(out.cls_logits[0]);
  for (std::size_t l = 1; l < 5; ++l) loss = add(loss, sum(out.box_deltas[l]));
  loss.backward();
  for (const auto& [n, t] : model.named_parameters()) {
    CAPTURE(n);
    const bool frozen = n.starts_with("backbone.conv1") || n.starts_with("backbone.layer1");
    CHECK(t.grad().defined() == !frozen);
  }
}

TEST_CASE("nn: state round trip through safetensors, strict and non-strict loading") {
  Generator a(4), b(5);
  const detection::RetinaNetConfig c{
      .backbone = {18, 1, 64, nn::NormKind::BatchNorm, 0}, .num_classes = 2, .width = 16, .head_convs = 1};
  detection::RetinaNet first(c, a), second(c, b);
  const auto path = (std::filesystem::temp_directory_path() / "ghm_nn_state.safetensors").string();
  io::save_safetensors(path, first.state());
  const io::SafetensorsData saved = io::load_safetensors(path);
  CHECK(second.load_state(saved.tensors).clean());
  const auto s1 = first.state(), s2 = second.state();
  REQUIRE(s1.size() == s2.size());
  for (std::size_t i = 0; i < s1.size(); ++i) {
    CAPTURE(s1[i].first);
    CHECK(s1[i].first == s2[i].first);
    CHECK(s1[i].second.to_vector<float>() == s2[i].second.to_vector<float>());
  }
  std::filesystem::remove(path);

  auto partial = first.state();
  partial.erase(partial.begin());                                      // missing backbone.conv1.weight
  partial.emplace_back("head.extra.weight", Tensor::zeros(Shape{1}));  // unexpected
  partial.back().second = Tensor::zeros(Shape{1});
  for (auto& [n, t] : partial)
    if (n == "head.box_pred.bias") t = Tensor::zeros(Shape{5});  // another shape
  CHECK_THROWS_WITH_AS(second.load_state(partial), doctest::Contains("1 missing [backbone.conv1.weight]"), Error);
  const nn::LoadReport r = second.load_state(partial, nn::Strict::No);
  CHECK(r.missing == std::vector<std::string>{"backbone.conv1.weight"});
  CHECK(r.unexpected == std::vector<std::string>{"head.extra.weight"});
  REQUIRE(r.mismatched.size() == 1);
  CHECK(r.mismatched[0].find("head.box_pred.bias") == 0);
}

TEST_CASE("nn: zero_init_residual zeroes the last norm of every block, and training can leave the identity") {
  for (const int depth : {18, 50}) {
    CAPTURE(depth);
    const std::string last_norm = depth == 18 ? ".bn2.weight" : ".bn3.weight";
    for (const bool zero : {false, true}) {
      CAPTURE(zero);
      nn::ResNetConfig config = trainable(depth);
      config.base_width = 4;
      config.zero_init_residual = zero;
      Generator gen(5);
      nn::ResNet body(config, gen);
      int zeroed = 0;
      for (const auto& [n, t] : body.named_parameters()) {
        if (!n.ends_with("weight") || t.dim() != 1) continue;  // the norms' weights
        CAPTURE(n);
        const bool expect_zero = zero && n.ends_with(last_norm);
        const float* w = t.data<float>();
        for (std::int64_t i = 0; i < t.numel(); ++i) CHECK(w[i] == (expect_zero ? 0.0f : 1.0f));
        zeroed += expect_zero;
      }
      CHECK(zeroed == (zero ? (depth == 18 ? 8 : 16) : 0));  // one per block

      // Every block starts as the identity (plus ReLU), yet its zeroed weight gets a gradient.
      Tensor loss = sum(body.forward(Tensor::normal(Shape{2, 3, 32, 32}, 0, 1, gen)).back());
      loss.backward();
      for (const auto& [n, t] : body.named_parameters())
        if (zero && n.ends_with(last_norm)) {
          CAPTURE(n);
          REQUIRE(t.grad().defined());
          const Tensor g = t.grad();
          double norm = 0;
          for (std::int64_t i = 0; i < g.numel(); ++i) norm += std::abs(g.data<float>()[i]);
          CHECK(norm > 0);
        }
    }
  }
}
