// What the detection tests share: the reference fixtures of tools/make_fixtures_detection.py
// (tests/data/detection_<family>.safetensors), the normalised error of a CPU result against a
// reference, random boxes and detections shaped to reach the edge cases (zero-size boxes, heavy
// overlap, tied scores), and random head outputs with their anchors for post-processing. The CPU
// suites and the GPU suite draw the same inputs from these.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "case_fixture.h"
#include "core/random.h"
#include "core/tensor.h"

namespace ghm::testing {

struct DetectionFixture : CaseFixture {
  explicit DetectionFixture(const std::string& family) : CaseFixture("detection_" + family) {}
};

// max |ours - ref| / max(1, max |ref|), both on the CPU.
inline double host_normalised_error(const Tensor& ours, const Tensor& ref) {
  REQUIRE(ours.shape() == ref.shape());
  const float* a = ours.data<float>();
  const float* b = ref.data<float>();
  double max_err = 0, max_ref = 1;
  for (std::int64_t i = 0; i < ref.numel(); ++i) {
    max_err = std::max(max_err, std::abs(static_cast<double>(a[i]) - b[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(b[i])));
  }
  return max_err / max_ref;
}

// boxes [P, 4] in descending score order, with each run of equal scores sorted by coordinates:
// the order of equal scores is torch.topk's and torch.sort's choice, not a rule (a location whose
// every channel ReLU zeroes scores a bias alone, so such ties are common with random weights).
inline Tensor tie_canonical(const Tensor& boxes, const Tensor& scores) {
  const std::vector<float> b = boxes.to(Device::cpu()).to_vector<float>();
  const std::vector<float> s = scores.to(Device::cpu()).to_vector<float>();
  std::vector<std::size_t> order(s.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    if (s[x] != s[y]) return s[x] > s[y];
    const auto bx = b.begin() + 4 * static_cast<std::ptrdiff_t>(x), by = b.begin() + 4 * static_cast<std::ptrdiff_t>(y);
    return std::lexicographical_compare(bx, bx + 4, by, by + 4);
  });
  std::vector<float> out;
  for (const std::size_t i : order) out.insert(out.end(), b.begin() + 4 * i, b.begin() + 4 * i + 4);
  return Tensor::from_vector(out, boxes.shape());
}

// [n, 4] boxes with corners in [-10, span) and sizes in [0, max_size): some have zero width or height.
inline Tensor random_boxes(std::int64_t n, std::mt19937& rng, float span = 100.f, float max_size = 40.f) {
  std::uniform_real_distribution<float> pos(-10.f, span), size(0.f, max_size);
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) {
    const float x = pos(rng), y = pos(rng);
    const float w = i % 11 == 3 ? 0.f : size(rng), h = i % 13 == 5 ? 0.f : size(rng);
    v.insert(v.end(), {x, y, x + w, y + h});
  }
  return Tensor::from_vector(v, Shape{n, 4});
}

// [n, 4] boxes of positive size (anchors and targets for the box coder).
inline Tensor random_proper_boxes(std::int64_t n, std::mt19937& rng, float span = 800.f) {
  std::uniform_real_distribution<float> pos(-50.f, span), size(1.f, 300.f);
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) {
    const float x = pos(rng), y = pos(rng);
    v.insert(v.end(), {x, y, x + size(rng), y + size(rng)});
  }
  return Tensor::from_vector(v, Shape{n, 4});
}

struct Detections {
  Tensor boxes;    // [n, 4]
  Tensor scores;   // [n]
  Tensor classes;  // [n] int64
};

// Clustered boxes (much overlap), scores on a coarse grid (many ties), a few zero-size boxes.
inline Detections random_detections(std::int64_t n, int num_classes, std::mt19937& rng) {
  std::uniform_real_distribution<float> centre(0.f, 100.f), jitter(-4.f, 4.f), size(4.f, 30.f);
  std::uniform_int_distribution<int> level(0, 9), cls(0, num_classes - 1);
  std::vector<float> centres;
  for (std::int64_t k = 0; k < std::max<std::int64_t>(n / 5, 1); ++k)
    centres.insert(centres.end(), {centre(rng), centre(rng)});
  std::vector<float> b, s;
  std::vector<std::int64_t> c;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::size_t k = rng() % (centres.size() / 2);
    const float cx = centres[2 * k] + jitter(rng), cy = centres[2 * k + 1] + jitter(rng);
    const float w = i % 17 == 4 ? 0.f : size(rng), h = size(rng);
    b.insert(b.end(), {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2});
    s.push_back(static_cast<float>(level(rng)) / 10.f);
    c.push_back(cls(rng));
  }
  return {Tensor::from_vector(b, Shape{n, 4}), Tensor::from_vector(s, Shape{n}), Tensor::from_vector(c, Shape{n})};
}

// The sizes and value ranges of random_head_outputs.
struct HeadOutputSpec {
  std::int64_t images, classes, anchors_per_location;               // N, K, A
  std::vector<std::pair<std::int64_t, std::int64_t>> level_sizes;  // (H, W) of each level
  float logit_mean, logit_std;
  float span_x, span_y;  // anchors' top-left corners lie in [0, span_x) x [0, span_y)
  float max_side;        // anchors' sides lie in [4, max_side)
};

// One image batch's head outputs and anchors, on the CPU, level by level.
struct HeadOutputs {
  std::vector<Tensor> cls;      // [N, A*K, H, W] logits ~ N(logit_mean, logit_std)
  std::vector<Tensor> box;      // [N, A*4, H, W] deltas ~ N(0, 0.3)
  std::vector<Tensor> anchors;  // [H*W*A, 4] boxes of positive size
};

inline HeadOutputs random_head_outputs(const HeadOutputSpec& s, Generator& gen) {
  const std::int64_t n = s.images, k = s.classes, a = s.anchors_per_location;
  HeadOutputs out;
  for (const auto& [h, w] : s.level_sizes) {
    out.cls.push_back(Tensor::normal(Shape{n, a * k, h, w}, s.logit_mean, s.logit_std, gen));
    out.box.push_back(Tensor::normal(Shape{n, a * 4, h, w}, 0.0f, 0.3f, gen));
    std::vector<float> anchors;
    for (std::int64_t i = 0; i < h * w * a; ++i) {
      const float x = gen.uniform(0, s.span_x), y = gen.uniform(0, s.span_y);
      const float bw = gen.uniform(4, s.max_side), bh = gen.uniform(4, s.max_side);
      anchors.insert(anchors.end(), {x, y, x + bw, y + bh});
    }
    out.anchors.push_back(Tensor::from_vector(anchors, Shape{h * w * a, 4}));
  }
  return out;
}

}  // namespace ghm::testing
