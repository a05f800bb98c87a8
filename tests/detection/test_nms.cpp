// Greedy and class-wise NMS (detection/nms.h) against torchvision (fixtures from
// tools/make_fixtures_detection.py, tests/data/detection_nms.safetensors: boxes, scores, class_ids ->
// keep = torchvision.ops.nms, keep_batched = torchvision nms per class merged in score order, which
// the script checks against torchvision.ops.batched_nms; param iou_threshold) and against a literal
// transcription of torchvision's CPU kernel written here.
//
// Kept indices are integers and compared exactly. Both sides evaluate the same float32 IoU
// expression, so no decision can flip on rounding (and the script's data keeps away from exact
// thresholds except where a case puts one on purpose with exactly representable values).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "detection/nms.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tests/detection/detection_cases.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

using Fixture = testing::DetectionFixture;
using testing::Detections;
using testing::random_detections;

using Indices = std::vector<std::int64_t>;

// torchvision/csrc/ops/cpu/nms_kernel.cpp, transcribed (restricted to the listed boxes).
Indices reference_nms(const Tensor& boxes, const Tensor& scores, const Indices& subset, float thr) {
  const float* b = boxes.data<float>();
  const float* s = scores.data<float>();
  Indices order = subset;
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t i, std::int64_t j) { return s[i] > s[j]; });
  std::map<std::int64_t, bool> suppressed;
  Indices keep;
  for (std::size_t oi = 0; oi < order.size(); ++oi) {
    const std::int64_t i = order[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    const float* bi = b + 4 * i;
    const float iarea = (bi[2] - bi[0]) * (bi[3] - bi[1]);
    for (std::size_t oj = oi + 1; oj < order.size(); ++oj) {
      const std::int64_t j = order[oj];
      if (suppressed[j]) continue;
      const float* bj = b + 4 * j;
      const float xx1 = std::max(bi[0], bj[0]), yy1 = std::max(bi[1], bj[1]);
      const float xx2 = std::min(bi[2], bj[2]), yy2 = std::min(bi[3], bj[3]);
      const float w = std::max(0.f, xx2 - xx1), h = std::max(0.f, yy2 - yy1);
      const float inter = w * h;
      const float jarea = (bj[2] - bj[0]) * (bj[3] - bj[1]);
      if (inter / (iarea + jarea - inter) > thr) suppressed[j] = true;
    }
  }
  return keep;
}

Indices reference_batched(const Tensor& boxes, const Tensor& scores, const Tensor& classes, float thr) {
  std::map<std::int64_t, Indices> by_class;
  for (std::int64_t i = 0; i < boxes.size(0); ++i) by_class[classes.data<std::int64_t>()[i]].push_back(i);
  Indices keep;
  for (const auto& [c, members] : by_class) {
    const Indices k = reference_nms(boxes, scores, members, thr);
    keep.insert(keep.end(), k.begin(), k.end());
  }
  const float* s = scores.data<float>();
  std::sort(keep.begin(), keep.end(),
            [&](std::int64_t a, std::int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
  return keep;
}

Indices all_of(std::int64_t n) {
  Indices v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), std::int64_t{0});
  return v;
}

}  // namespace

TEST_CASE("nms: torchvision fixtures (nms and class-wise nms)") {
  const Fixture f("nms");
  REQUIRE(f.num_cases >= 8);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const auto thr = static_cast<float>(f.params(i).at("iou_threshold").as_double());
    const Tensor boxes = f.get(i, "boxes"), scores = f.get(i, "scores"), classes = f.get(i, "class_ids");
    CHECK(nms(boxes, scores, thr).to_vector<std::int64_t>() == f.get(i, "keep").to_vector<std::int64_t>());
    CHECK(batched_nms(boxes, scores, classes, thr).to_vector<std::int64_t>() ==
          f.get(i, "keep_batched").to_vector<std::int64_t>());
  }
}

TEST_CASE("nms: random clustered boxes with tied scores against torchvision's kernel transcribed") {
  std::mt19937 rng(41);
  for (const std::int64_t n : {1, 2, 7, 129, 1001}) {
    for (const float thr : {0.f, 0.3f, 0.5f, 0.7f, 1.f}) {
      CAPTURE(n);
      CAPTURE(thr);
      const Detections d = random_detections(n, 5, rng);
      CHECK(nms(d.boxes, d.scores, thr).to_vector<std::int64_t>() == reference_nms(d.boxes, d.scores, all_of(n), thr));
      CHECK(batched_nms(d.boxes, d.scores, d.classes, thr).to_vector<std::int64_t>() ==
            reference_batched(d.boxes, d.scores, d.classes, thr));
    }
  }
}

TEST_CASE("nms: identical boxes, score ties, zero-size boxes, the threshold itself, empty input") {
  const Tensor boxes = Tensor::from_vector<float>({0, 0, 10, 10,  // 0
                                                   0, 0, 10, 10,  // 1 identical to 0, same score
                                                   0, 0, 10, 5,   // 2 IoU exactly 0.5 with 0
                                                   3, 3, 3,  3,   // 3 zero size
                                                   3, 3, 3,  3},  // 4 zero size, identical to 3
                                                  Shape{5, 4});
  const Tensor scores = Tensor::from_vector<float>({0.9f, 0.9f, 0.8f, 0.95f, 0.95f}, Shape{5});
  // 3 and 4 first (tie: index order), never suppressing each other (0 / 0 is not > thr); 0 before 1
  // (tie) and 1 suppressed by 0; 2 survives at thr 0.5 (IoU = 0.5 is not > 0.5) but not at 0.49.
  CHECK(nms(boxes, scores, 0.5f).to_vector<std::int64_t>() == Indices{3, 4, 0, 2});
  CHECK(nms(boxes, scores, 0.49f).to_vector<std::int64_t>() == Indices{3, 4, 0});
  // Class-wise: 1 in its own class survives; output stays in global score order.
  const Tensor classes = Tensor::from_vector<std::int32_t>({0, 1, 0, 2, 2}, Shape{5});  // i32 accepted
  CHECK(batched_nms(boxes, scores, classes, 0.5f).to_vector<std::int64_t>() == Indices{3, 4, 0, 1, 2});

  CHECK(nms(Tensor::zeros({0, 4}), Tensor::zeros({0}), 0.5f).shape() == Shape{0});
  CHECK(batched_nms(Tensor::zeros({0, 4}), Tensor::zeros({0}), Tensor::zeros({0}, DType::I64), 0.5f).shape() ==
        Shape{0});
  const Tensor one = Tensor::from_vector<float>({1, 2, 3, 4}, Shape{1, 4});
  CHECK(nms(one, Tensor::from_vector<float>({-3.f}, Shape{1}), 0.5f).to_vector<std::int64_t>() == Indices{0});
}

TEST_CASE("nms: input validation names the op and the shapes") {
  const Tensor boxes = Tensor::zeros({3, 4});
  CHECK_THROWS_WITH_AS(nms(boxes, Tensor::zeros({2}), 0.5f),
                       doctest::Contains("nms: scores [2] must be [N] for boxes [3, 4]"), Error);
  CHECK_THROWS_WITH_AS(nms(Tensor::zeros({3, 2}), Tensor::zeros({3}), 0.5f),
                       doctest::Contains("nms: boxes must be [*, 4]"), Error);
  const Tensor nan_scores = Tensor::from_vector<float>({0.1f, std::numeric_limits<float>::quiet_NaN(), 0.2f}, Shape{3});
  CHECK_THROWS_WITH_AS(nms(boxes, nan_scores, 0.5f), doctest::Contains("scores[1] is NaN"), Error);
  CHECK_THROWS_WITH_AS(batched_nms(boxes, Tensor::zeros({3}), Tensor::zeros({3}), 0.5f),
                       doctest::Contains("batched_nms: class_ids must be i64 or i32"), Error);
  CHECK_THROWS_WITH_AS(batched_nms(boxes, Tensor::zeros({3}), Tensor::zeros({4}, DType::I64), 0.5f),
                       doctest::Contains("class_ids [4] must be [N]"), Error);
}
