// Pairwise IoU / IoF (detection/iou.h) against a brute-force double reference written here and
// against mmdetection's bbox_overlaps (fixtures from tools/make_fixtures_detection.py,
// tests/data/detection_iou.safetensors; each case: boxes1, boxes2, iou, iof).
//
// Tolerances (why): an overlap is a ratio of float32 values in [0, 1] computed with ~6 roundings;
// against the float32 reference (same operations in the same order, up to FMA contraction) we allow
// 1e-6 absolute (~8 ulp of 1). Against the double reference, 2e-6: float32 rounding of inputs whose
// coordinates reach ~100. A wrong formula (no eps, "+1" areas, IoF over the other box) errs by >1e-2.
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "detection/iou.h"
#include "io/safetensors.h"
#include "tests/detection/detection_cases.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

constexpr double kFixtureTol = 1e-6;
constexpr double kDoubleTol = 2e-6;

using Fixture = testing::DetectionFixture;
using testing::random_boxes;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  double m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(pa[i]) - pb[i]));
  return m;
}

double ref_overlap(const float* a, const float* b, OverlapMode mode) {
  const double iw = std::max(0.0, std::min<double>(a[2], b[2]) - std::max<double>(a[0], b[0]));
  const double ih = std::max(0.0, std::min<double>(a[3], b[3]) - std::max<double>(a[1], b[1]));
  const double inter = iw * ih;
  const double area_a = (static_cast<double>(a[2]) - a[0]) * (static_cast<double>(a[3]) - a[1]);
  const double area_b = (static_cast<double>(b[2]) - b[0]) * (static_cast<double>(b[3]) - b[1]);
  const double denom = mode == OverlapMode::IoU ? area_a + area_b - inter : area_a;
  return inter / std::max(denom, 1e-6);
}

Tensor reference_overlaps(const Tensor& b1, const Tensor& b2, OverlapMode mode) {
  const std::int64_t n = b1.size(0), m = b2.size(0);
  Tensor out = Tensor::empty({n, m});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < m; ++j)
      out.data<float>()[i * m + j] =
          static_cast<float>(ref_overlap(b1.data<float>() + 4 * i, b2.data<float>() + 4 * j, mode));
  return out;
}

Tensor boxes_of(std::vector<float> v) {
  const auto n = static_cast<std::int64_t>(v.size() / 4);
  return Tensor::from_vector(v, Shape{n, 4});
}

}  // namespace

TEST_CASE("iou: mmdetection bbox_overlaps fixtures") {
  const Fixture f("iou");
  REQUIRE(f.num_cases >= 5);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const Tensor b1 = f.get(i, "boxes1"), b2 = f.get(i, "boxes2");
    CHECK(max_abs_diff(box_iou(b1, b2), f.get(i, "iou")) <= kFixtureTol);
    CHECK(max_abs_diff(box_iof(b1, b2), f.get(i, "iof")) <= kFixtureTol);
  }
}

TEST_CASE("iou: random boxes of odd counts against the double reference") {
  std::mt19937 rng(7);
  for (const auto& size : std::vector<std::pair<int, int>>{{1, 1}, {7, 3}, {37, 53}, {0, 4}, {5, 0}, {300, 257}}) {
    const int n = size.first, m = size.second;
    CAPTURE(n);
    CAPTURE(m);
    const Tensor a = random_boxes(n, rng), b = random_boxes(m, rng);
    for (const OverlapMode mode : {OverlapMode::IoU, OverlapMode::IoF}) {
      const Tensor ours = box_overlaps(a, b, mode);
      REQUIRE(ours.shape() == Shape{n, m});
      CHECK(max_abs_diff(ours, reference_overlaps(a, b, mode)) <= kDoubleTol);
    }
  }
}

TEST_CASE("iou: identical, nested, touching and zero-size boxes") {
  const Tensor b = boxes_of({0,  0, 10, 10,   // 0
                             0,  0, 10, 10,   // 1 identical to 0
                             2,  2, 4,  4,    // 2 inside 0
                             10, 0, 20, 10,   // 3 touches 0
                             3,  3, 3,  3,    // 4 a point
                             0,  5, 10, 5});  // 5 a line
  const Tensor iou = box_iou(b, b), iof = box_iof(b, b);
  auto at = [](const Tensor& t, int i, int j) { return t.data<float>()[i * t.size(1) + j]; };
  CHECK(at(iou, 0, 1) == doctest::Approx(1.0));
  CHECK(at(iou, 0, 2) == doctest::Approx(0.04));
  CHECK(at(iof, 2, 0) == doctest::Approx(1.0));   // all of box 2 lies in box 0
  CHECK(at(iof, 0, 2) == doctest::Approx(0.04));  // over the first box's area
  CHECK(at(iou, 0, 3) == 0.f);
  // Zero-size boxes: IoU 0 with everything, themselves included (the eps keeps 0 / 0 away).
  for (int j = 0; j < 6; ++j) {
    CHECK(at(iou, 4, j) == 0.f);
    CHECK(at(iou, 5, j) == 0.f);
    CHECK(at(iof, 4, j) == 0.f);
  }
}

TEST_CASE("iou: symmetric bit for bit and independent of the thread count") {
  std::mt19937 rng(11);
  const Tensor a = random_boxes(301, rng), b = random_boxes(173, rng);
  const Tensor ab = box_iou(a, b), ba = box_iou(b, a);
  bool symmetric = true;
  for (int i = 0; i < 301; ++i)
    for (int j = 0; j < 173; ++j) symmetric &= ab.data<float>()[i * 173 + j] == ba.data<float>()[j * 301 + i];
  CHECK(symmetric);

  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Tensor serial = box_iof(a, b);
  omp_set_num_threads(std::max(threads, 3));
  const Tensor parallel = box_iof(a, b);
  omp_set_num_threads(threads);
  CHECK(max_abs_diff(serial, parallel) == 0.0);  // each output written once by the same code
}

TEST_CASE("iou: input validation names the op and the shapes") {
  const Tensor good = boxes_of({0, 0, 1, 1});
  CHECK_THROWS_WITH_AS(box_iou(Tensor::zeros({3, 5}), good), doctest::Contains("box_overlaps: boxes1 must be [*, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(box_iou(good, Tensor::zeros({4})), doctest::Contains("[4]"), Error);
  CHECK_THROWS_AS(box_iou(good, Tensor::zeros({2, 4}, DType::I64)), Error);
  CHECK_THROWS_AS(box_iou(Tensor(), good), Error);
}
