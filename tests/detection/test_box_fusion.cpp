// Fusion of several views' detections (detection/box_fusion.h), against hand-computed values.
#include <doctest/doctest.h>

#include <vector>

#include "core/check.h"
#include "detection/box_fusion.h"

namespace ghm::detection {
namespace {

struct Det {
  float x1, y1, x2, y2, score;
  std::int64_t label;
};

ImageDetections make(const std::vector<Det>& list) {
  const auto n = static_cast<std::int64_t>(list.size());
  ImageDetections d;
  d.boxes = Tensor::zeros({n, 4});
  d.scores = Tensor::zeros({n});
  d.labels = Tensor::zeros({n}, DType::I64);
  for (std::int64_t j = 0; j < n; ++j) {
    const Det& e = list[static_cast<std::size_t>(j)];
    float* b = d.boxes.data<float>() + 4 * j;
    b[0] = e.x1, b[1] = e.y1, b[2] = e.x2, b[3] = e.y2;
    d.scores.data<float>()[j] = e.score;
    d.labels.data<std::int64_t>()[j] = e.label;
  }
  return d;
}

std::vector<Det> unpack(const ImageDetections& d) {
  std::vector<Det> out;
  for (std::int64_t j = 0; j < d.scores.numel(); ++j) {
    const float* b = d.boxes.data<float>() + 4 * j;
    out.push_back({b[0], b[1], b[2], b[3], d.scores.data<float>()[j], d.labels.data<std::int64_t>()[j]});
  }
  return out;
}

}  // namespace

TEST_CASE("box fusion: one view comes back unchanged, boxes, scores and order") {
  // A post-NMS list (NMS at 0.5): same-class boxes overlap less than the fusion IoU.
  // Equal scores across classes keep the list's order too.
  const std::vector<Det> list = {{0, 0, 10, 10, 0.9f, 2},  {5, 0, 15, 10, 0.8f, 2},   {0, 0, 10, 10, 0.7f, 0},
                                 {20, 20, 31, 33, 0.4f, 2}, {3.3f, 1.7f, 9.1f, 8.9f, 0.3f, 5}, {0, 0, 0, 0, 0.2f, 2},
                                 {0, 0, 0, 0, 0.2f, 2},     {40, 40, 50, 50, 0.2f, 1}};
  const std::vector<Det> fused = unpack(fuse_views({make(list)}, 0.55f, 100));
  REQUIRE(fused.size() == list.size());
  for (std::size_t j = 0; j < list.size(); ++j) {
    CAPTURE(j);
    CHECK(fused[j].x1 == list[j].x1);
    CHECK(fused[j].y1 == list[j].y1);
    CHECK(fused[j].x2 == list[j].x2);
    CHECK(fused[j].y2 == list[j].y2);
    CHECK(fused[j].score == list[j].score);
    CHECK(fused[j].label == list[j].label);
  }
  // max_detections keeps the best.
  CHECK(unpack(fuse_views({make(list)}, 0.55f, 2)).size() == 2);
}

TEST_CASE("box fusion: two views of one object average the scores and the score-weighted boxes") {
  // IoU((0,0,10,10), (1,0,11,10)) = 90 / 110 = 0.818.
  const ImageDetections a = make({{0, 0, 10, 10, 0.8f, 1}});
  const ImageDetections b = make({{1, 0, 11, 10, 0.6f, 1}});
  const std::vector<Det> fused = unpack(fuse_views({a, b}, 0.55f, 100));
  REQUIRE(fused.size() == 1);
  CHECK(fused[0].score == doctest::Approx((0.8 + 0.6) / 2).epsilon(1e-6));
  CHECK(fused[0].x1 == doctest::Approx(0.6 / 1.4).epsilon(1e-6));
  CHECK(fused[0].x2 == doctest::Approx((0.8 * 10 + 0.6 * 11) / 1.4).epsilon(1e-6));
  CHECK(fused[0].y1 == 0.0f);
  CHECK(fused[0].y2 == doctest::Approx(10.0).epsilon(1e-6));
  CHECK(fused[0].label == 1);

  // Above the fusion IoU they merge; below it (0.818 < 0.9) each stays, and a view that missed
  // the object votes 0: each score halves.
  const std::vector<Det> apart = unpack(fuse_views({a, b}, 0.9f, 100));
  REQUIRE(apart.size() == 2);
  CHECK(apart[0].score == doctest::Approx(0.4).epsilon(1e-6));
  CHECK(apart[0].x1 == 0.0f);
  CHECK(apart[1].score == doctest::Approx(0.3).epsilon(1e-6));
  CHECK(apart[1].x1 == 1.0f);
}

TEST_CASE("box fusion: classes never fuse, each view counts once, the result is score-ordered") {
  // View 0 sees class 3 twice on one object (two boxes each >= 0.55 with the best but not with
  // each other); view 1 sees class 4 at the same place and class 3 elsewhere.
  const ImageDetections v0 = make({{0, 0, 10, 10, 0.9f, 3}, {0, 0, 10, 7, 0.5f, 3}, {0, 3, 10, 10, 0.4f, 3}});
  const ImageDetections v1 = make({{0, 0, 10, 10, 0.95f, 4}, {50, 50, 60, 60, 0.7f, 3}});
  const std::vector<Det> fused = unpack(fuse_views({v0, v1}, 0.55f, 100));
  REQUIRE(fused.size() == 3);
  // Class 3 at the object: view 0's best (0.9) only, view 1 none: 0.45; the box weighs all three.
  // Class 4: 0.95 / 2; class 3 elsewhere: 0.7 / 2. Order: 0.475, 0.45, 0.35.
  CHECK(fused[0].label == 4);
  CHECK(fused[0].score == doctest::Approx(0.475).epsilon(1e-6));
  CHECK(fused[1].label == 3);
  CHECK(fused[1].score == doctest::Approx(0.45).epsilon(1e-6));
  CHECK(fused[1].y1 == doctest::Approx((0.4 * 3) / 1.8).epsilon(1e-6));
  CHECK(fused[1].y2 == doctest::Approx((0.9 * 10 + 0.5 * 7 + 0.4 * 10) / 1.8).epsilon(1e-6));
  CHECK(fused[2].label == 3);
  CHECK(fused[2].x1 == 50.0f);
  CHECK(fused[2].score == doctest::Approx(0.35).epsilon(1e-6));
}

TEST_CASE("box fusion: empty views, zero-area boxes and bad arguments") {
  CHECK(fuse_views({make({}), make({})}, 0.55f, 100).scores.numel() == 0);
  // Zero-area boxes overlap nothing (IoU NaN), even an identical one.
  const std::vector<Det> zero = unpack(fuse_views({make({{5, 5, 5, 5, 0.6f, 0}}), make({{5, 5, 5, 5, 0.6f, 0}})}, 0.5f, 100));
  REQUIRE(zero.size() == 2);
  CHECK(zero[0].score == doctest::Approx(0.3).epsilon(1e-6));
  CHECK_THROWS_WITH_AS(fuse_views({}, 0.55f, 100), doctest::Contains("no view"), Error);
  CHECK_THROWS_WITH_AS(fuse_views({make({})}, 0.0f, 100), doctest::Contains("iou"), Error);
  CHECK_THROWS_WITH_AS(fuse_views({make({})}, 0.55f, 0), doctest::Contains("max_detections"), Error);
}

}  // namespace ghm::detection
