// The ResNet classifier (nn/classifier.h): torchvision's names and shapes (backbone.* as a
// detector's backbone, fc.weight [K, C], fc.bias [K]), logits equal to the definition (global
// average of C5, times fc.weight^T, plus fc.bias) computed here by hand, and the gradients reaching
// fc and the body agree with finite differences.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>

#include "core/autograd.h"
#include "core/ops/reduce.h"
#include "detection/retinanet/model.h"
#include "losses/softmax_ce.h"
#include "nn/classifier.h"

using namespace ghm;

namespace {

nn::ResNetConfig tiny_body() {
  nn::ResNetConfig c;
  c.depth = 18;
  c.norm = nn::NormKind::BatchNorm;
  c.frozen_stages = 0;
  c.base_width = 4;
  return c;
}

}  // namespace

TEST_CASE("classifier: names are a detector backbone's plus fc.weight [K, C] and fc.bias [K]") {
  Generator gen(1);
  nn::ResNetClassifier model(tiny_body(), 5, gen);
  detection::RetinaNetConfig det;
  det.backbone = tiny_body();
  Generator gen2(1);
  const detection::RetinaNet detector(det, gen2);
  std::vector<std::string> backbone_names, classifier_names;
  for (const auto& [name, t] : detector.state())
    if (name.rfind("backbone.", 0) == 0) backbone_names.push_back(name);
  for (const auto& [name, t] : model.state()) classifier_names.push_back(name);
  REQUIRE(classifier_names.size() == backbone_names.size() + 2);
  CHECK(std::equal(backbone_names.begin(), backbone_names.end(), classifier_names.begin()));
  CHECK(classifier_names[classifier_names.size() - 2] == "fc.weight");
  CHECK(classifier_names.back() == "fc.bias");
  const auto params = model.named_parameters();
  CHECK(params[params.size() - 2].second.shape() == Shape{5, 32});  // C5 of base width 4: 8 x 4 channels
  CHECK(params.back().second.shape() == Shape{5});
}

TEST_CASE("classifier: logits are the pooled C5 times fc.weight^T plus fc.bias") {
  Generator gen(2);
  nn::ResNetClassifier model(tiny_body(), 3, gen);
  model.eval();
  const auto params = model.named_parameters();
  Tensor bias = params.back().second;
  bias.data<float>()[1] = 0.5f;
  const Tensor w = params[params.size() - 2].second;
  const Tensor x = Tensor::normal(Shape{2, 3, 64, 64}, 0.0f, 1.0f, gen);
  const NoGradGuard no_grad;
  const Tensor logits = model.forward(x);
  REQUIRE(logits.shape() == Shape{2, 3});
  const Tensor c5 = model.backbone().forward(x).back();  // [2, 32, 2, 2]
  const float* c = c5.data<float>();
  for (int n = 0; n < 2; ++n)
    for (int k = 0; k < 3; ++k) {
      double acc = bias.data<float>()[k];
      for (int ch = 0; ch < 32; ++ch) {
        double pooled = 0;
        for (int i = 0; i < 4; ++i) pooled += c[(n * 32 + ch) * 4 + i];
        acc += pooled / 4 * w.data<float>()[k * 32 + ch];
      }
      CHECK(logits.data<float>()[n * 3 + k] == doctest::Approx(acc).epsilon(1e-5));
    }
}

// Directional derivatives, as tests/nn/test_model_gradcheck.cpp does for the detector (why: the
// tolerance comment there): (L(P + eps v) - L(P - eps v)) / (2 eps) against <dL/dP, v>, with
// |eps v| = 1e-3 of P's RMS (1e-3 for the zero bias), in evaluation mode (training-mode batch norm couples the images).
TEST_CASE("classifier: gradients of fc and of the body agree with finite differences") {
  Generator gen(3);
  nn::ResNetClassifier model(tiny_body(), 4, gen);
  model.eval();
  const Tensor x = Tensor::normal(Shape{3, 3, 32, 32}, 0.0f, 1.0f, gen);
  const Tensor y = Tensor::from_vector<std::int64_t>({0, 3, 2}, Shape{3});
  const auto loss_value = [&]() {
    const NoGradGuard no_grad;
    return static_cast<double>(losses::softmax_cross_entropy_loss(model.forward(x), y, 3.0).item());
  };
  std::map<std::string, Tensor> params;
  for (auto [name, t] : model.named_parameters()) {
    t.zero_grad();
    params.emplace(name, t);
  }
  for (std::int64_t i = 0; i < params.at("fc.weight").numel(); ++i)
    params.at("fc.weight").data<float>()[i] *= 30.0f;  // logits away from uniform
  losses::softmax_cross_entropy_loss(model.forward(x), y, 3.0).backward();
  for (const char* name : {"fc.weight", "fc.bias", "backbone.conv1.weight", "backbone.layer3.0.conv1.weight"}) {
    const std::string param = name;
    CAPTURE(param);
    Tensor p = params.at(name);
    const Tensor v = Tensor::normal(p.shape(), 0.0f, 1.0f, gen);
    double rms = 0, analytic = 0;
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      rms += static_cast<double>(p.data<float>()[i]) * p.data<float>()[i];
      analytic += static_cast<double>(p.grad().data<float>()[i]) * v.data<float>()[i];
    }
    rms = std::sqrt(rms / static_cast<double>(p.numel()));
    const double eps = rms > 0 ? 1e-3 * rms : 1e-3;  // fc.bias starts at zero
    const Tensor saved = p.clone();
    const auto shift = [&](double by) {
      for (std::int64_t i = 0; i < p.numel(); ++i)
        p.data<float>()[i] = static_cast<float>(saved.data<float>()[i] + by * v.data<float>()[i]);
    };
    shift(eps);
    const double up = loss_value();
    shift(-eps);
    const double down = loss_value();
    shift(0);
    const double numeric = (up - down) / (2 * eps);
    CHECK(std::abs(numeric - analytic) <= 5e-2 * std::abs(analytic) + 1e-6);
  }
}
