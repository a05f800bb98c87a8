// The "sin-v1" weight formula that tools/make_fixtures_model.py uses, shared by the tests that
// compare our RetinaNet with torchvision's (tests/nn/test_torchvision_equivalence.cpp: forward,
// tests/nn/test_torchvision_gradients.cpp: backward).
//
// Sort our state names by byte order and number them j = 0, 1, ...; element i (row-major) of
// tensor j is, computed in double and rounded to float, with s = sin(0.731 i + 1.37 j):
//   conv weight [O, C/groups, KH, KW]   2 s / sqrt(fan_in),  fan_in = C/groups * KH * KW
//   linear weight [O, I]                2 s / sqrt(I)    (tools/make_fixtures_faster_rcnn.py; the
//                                                         RetinaNet fixtures have none)
//   batch-norm weight                   1 + 0.1 s
//   any bias, running_mean              0.1 s
//   running_var                         1 + 0.5 (1 + s) / 2
// The fixture lists torchvision's tensors under our names (metadata "state_names", mapped by
// tools/convert_torchvision.py), so set_model_by_formula first checks that our model has exactly
// those tensors: the formula then gives both models the same weights only if the name mapping is right.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "detection/retinanet/model.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "nn/module.h"

namespace ghm::test {

// Tensor j of the formula above, written into `t` (our tensor named `name`).
inline void set_by_formula(const std::string& name, Tensor& t, std::size_t j) {
  const Shape& shape = t.shape();
  float* out = t.data<float>();
  const bool conv_weight = name.ends_with(".weight") && (shape.ndim() == 4 || shape.ndim() == 2);
  const bool norm_weight = name.ends_with(".weight") && shape.ndim() == 1;
  const bool shift = name.ends_with(".bias") || name.ends_with(".running_mean");
  const bool variance = name.ends_with(".running_var");
  REQUIRE_MESSAGE((conv_weight || norm_weight || shift || variance), "no formula for " << name << " " << shape);
  const double fan_in = !conv_weight ? 1.0 : shape.ndim() == 2 ? static_cast<double>(shape[1])
                                                              : static_cast<double>(shape[1] * shape[2] * shape[3]);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const double s = std::sin(0.731 * static_cast<double>(i) + 1.37 * static_cast<double>(j));
    const double v = variance      ? 1 + 0.5 * (1 + s) / 2
                     : shift       ? 0.1 * s
                     : conv_weight ? 2 * s / std::sqrt(fan_in)
                                   : 1 + 0.1 * s;
    out[i] = static_cast<float>(v);
  }
}

inline std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Checks that `model`'s state names are exactly the fixture's (`state_names_json`, the JSON list
// in its metadata), then sets every state tensor by the formula.
inline void set_model_by_formula(nn::Module& model, const std::string& state_names_json) {
  auto state = model.state();
  std::sort(state.begin(), state.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> names, theirs;
  for (const auto& [n, t] : state) names.push_back(n);
  const io::Json listed = io::Json::parse(state_names_json, "state_names");
  for (const io::Json& n : listed.as_array()) theirs.push_back(n.as_string());
  if (names != theirs) {
    std::vector<std::string> only_ours, only_theirs;
    std::set_difference(names.begin(), names.end(), theirs.begin(), theirs.end(), std::back_inserter(only_ours));
    std::set_difference(theirs.begin(), theirs.end(), names.begin(), names.end(), std::back_inserter(only_theirs));
    FAIL("state names differ; only ours: [" << join(only_ours) << "], only torchvision's: [" << join(only_theirs)
                                            << "]");
  }
  for (std::size_t j = 0; j < state.size(); ++j) set_by_formula(state[j].first, state[j].second, j);
}

// max|ours - ref| / max|ref|
inline double relative_error(const Tensor& ours, const Tensor& ref) {
  const float* a = ours.data<float>();
  const float* b = ref.data<float>();
  double max_err = 0, max_ref = 0;
  for (std::int64_t i = 0; i < ref.numel(); ++i) {
    max_err = std::max(max_err, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(b[i])));
  }
  return max_err / max_ref;
}

// A RetinaNet with the fixture's head (num_classes, anchors, width; P6 from P5 as torchvision's
// retinanet_resnet50_fpn) over `backbone`, every tensor set by the formula from the fixture's
// state_names.
inline std::unique_ptr<detection::RetinaNet> fixture_model(const io::SafetensorsData& f,
                                                         const nn::ResNetConfig& backbone) {
  detection::RetinaNetConfig c;
  c.backbone = backbone;
  c.num_classes = std::stoll(f.metadata.at("num_classes"));
  c.anchors_per_location = std::stoll(f.metadata.at("anchors"));
  c.width = std::stoll(f.metadata.at("width"));
  c.p6_source = nn::P6Source::P5;
  Generator gen(7);
  auto model = std::make_unique<detection::RetinaNet>(c, gen);
  set_model_by_formula(*model, f.metadata.at("state_names"));
  return model;
}

}  // namespace ghm::test
