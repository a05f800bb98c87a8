// MaxIoUAssigner and anchor targets (detection/assign.h) against mmdetection v2 (fixtures from
// tools/make_fixtures_detection.py, tests/data/detection_assign.safetensors: anchors, inside_flags,
// gt_boxes, gt_labels, crowd_boxes -> gt_index, max_iou, labels, label_weights, bbox_targets,
// bbox_weights; params: the assigner options and num_classes) and against a literal transcription
// of mmdet's steps written here.
//
// Assignments are integers and compared exactly. The brute-force cases use integer coordinates, so
// every IoU is one correctly rounded division on both sides and max_iou compares exactly too.
// Against the fixtures max_iou allows 1e-6 (the IoU tolerance of test_iou.cpp) and bbox_targets
// 2e-6 normalised (the encode tolerance of test_box_coder.cpp).
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "detection/anchors.h"
#include "detection/assign.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tests/detection/detection_cases.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

using Fixture = testing::DetectionFixture;

double normalised_error(const Tensor& ours, const Tensor& ref) { return testing::host_normalised_error(ours, ref); }

// ---- the reference: mmdet's MaxIoUAssigner, step by step, on the inside anchors ------------------

float iou_f(const float* a, const float* b, bool iof) {
  const float w = std::max(std::min(a[2], b[2]) - std::max(a[0], b[0]), 0.f);
  const float h = std::max(std::min(a[3], b[3]) - std::max(a[1], b[1]), 0.f);
  const float inter = w * h;
  const float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / std::max(iof ? area_a : area_a + area_b - inter, 1e-6f);
}

struct Reference {
  std::vector<std::int64_t> gt_index;
  std::vector<float> max_iou;
};

Reference reference_assign(const Tensor& anchors, const Tensor& gts, const Tensor& crowd,
                           const std::vector<bool>& inside, const AssignerConfig& c) {
  const std::int64_t a_total = anchors.size(0), g_count = gts.size(0), c_count = crowd.size(0);
  std::vector<std::int64_t> idx;  // the inside anchors, as mmdet's flat_anchors[inside_flags]
  for (std::int64_t a = 0; a < a_total; ++a)
    if (inside[a]) idx.push_back(a);
  const auto n = static_cast<std::int64_t>(idx.size());
  auto anchor = [&](std::int64_t k) { return anchors.data<float>() + 4 * idx[k]; };

  std::vector<std::vector<float>> overlaps(g_count, std::vector<float>(n));  // [G, n], mmdet's layout
  for (std::int64_t g = 0; g < g_count; ++g)
    for (std::int64_t k = 0; k < n; ++k) overlaps[g][k] = iou_f(gts.data<float>() + 4 * g, anchor(k), false);
  if (c.ignore_iof_thr > 0 && c_count > 0 && n > 0)
    for (std::int64_t k = 0; k < n; ++k) {
      float m = -1e30f;
      for (std::int64_t j = 0; j < c_count; ++j) m = std::max(m, iou_f(anchor(k), crowd.data<float>() + 4 * j, true));
      if (m > c.ignore_iof_thr)
        for (std::int64_t g = 0; g < g_count; ++g) overlaps[g][k] = -1;
    }

  std::vector<std::int64_t> gt_inds(n, -1);  // mmdet: -1 ignore, 0 negative, g + 1 positive
  std::vector<float> max_overlaps(n, 0.f);
  if (g_count == 0) {
    std::fill(gt_inds.begin(), gt_inds.end(), 0);
  } else if (n > 0) {
    std::vector<std::int64_t> argmax(n, 0);
    for (std::int64_t k = 0; k < n; ++k) {
      max_overlaps[k] = overlaps[0][k];
      for (std::int64_t g = 1; g < g_count; ++g)
        if (overlaps[g][k] > max_overlaps[k]) max_overlaps[k] = overlaps[g][k], argmax[k] = g;
    }
    std::vector<float> gt_max(g_count);
    std::vector<std::int64_t> gt_argmax(g_count, 0);
    for (std::int64_t g = 0; g < g_count; ++g) {
      gt_max[g] = overlaps[g][0];
      for (std::int64_t k = 1; k < n; ++k)
        if (overlaps[g][k] > gt_max[g]) gt_max[g] = overlaps[g][k], gt_argmax[g] = k;
    }
    for (std::int64_t k = 0; k < n; ++k)
      if (max_overlaps[k] >= 0 && max_overlaps[k] < c.neg_iou_thr) gt_inds[k] = 0;
    for (std::int64_t k = 0; k < n; ++k)
      if (max_overlaps[k] >= c.pos_iou_thr) gt_inds[k] = argmax[k] + 1;
    if (c.low_quality == LowQualityMatch::On)
      for (std::int64_t g = 0; g < g_count; ++g) {
        if (!(gt_max[g] >= c.min_pos_iou)) continue;
        if (c.gt_max_assign == GtMaxAssign::AllTiedAnchors) {
          for (std::int64_t k = 0; k < n; ++k)
            if (overlaps[g][k] == gt_max[g]) gt_inds[k] = g + 1;
        } else {
          gt_inds[gt_argmax[g]] = g + 1;
        }
      }
  }
  Reference r{std::vector<std::int64_t>(a_total, kIgnoredAnchor), std::vector<float>(a_total, 0.f)};
  for (std::int64_t k = 0; k < n; ++k) {
    r.gt_index[idx[k]] = gt_inds[k] > 0 ? gt_inds[k] - 1 : (gt_inds[k] == 0 ? kNegativeAnchor : kIgnoredAnchor);
    r.max_iou[idx[k]] = max_overlaps[k];
  }
  return r;
}

// Integer boxes: corners in [0, span), sizes in [1, max_size) (and a few of zero size if asked).
Tensor integer_boxes(std::int64_t n, std::mt19937& rng, int span, int max_size, bool some_empty = false) {
  std::uniform_int_distribution<int> pos(0, span - 1), size(1, max_size - 1);
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(pos(rng)), y = static_cast<float>(pos(rng));
    const float w = some_empty && i % 7 == 6 ? 0.f : static_cast<float>(size(rng));
    v.insert(v.end(), {x, y, x + w, y + static_cast<float>(size(rng))});
  }
  return Tensor::from_vector(v, Shape{n, 4});
}

Tensor flags_tensor(const std::vector<bool>& inside) {
  std::vector<std::uint8_t> v(inside.begin(), inside.end());
  return Tensor::from_vector(v, Shape{static_cast<std::int64_t>(v.size())});
}

}  // namespace

TEST_CASE("assign: mmdetection MaxIoUAssigner + AnchorHead targets fixtures") {
  const Fixture f("assign");
  REQUIRE(f.num_cases >= 11);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = f.params(i);
    AssignerConfig c;
    c.pos_iou_thr = static_cast<float>(p.at("pos_iou_thr").as_double());
    c.neg_iou_thr = static_cast<float>(p.at("neg_iou_thr").as_double());
    c.min_pos_iou = static_cast<float>(p.at("min_pos_iou").as_double());
    c.gt_max_assign = p.at("gt_max_assign_all").as_bool() ? GtMaxAssign::AllTiedAnchors : GtMaxAssign::FirstAnchor;
    c.low_quality = p.at("match_low_quality").as_bool() ? LowQualityMatch::On : LowQualityMatch::Off;
    c.ignore_iof_thr = static_cast<float>(p.at("ignore_iof_thr").as_double());
    const std::int64_t num_classes = p.at("num_classes").as_int();

    const Tensor anchors = f.get(i, "anchors"), gt = f.get(i, "gt_boxes");
    const AssignResult r = assign_anchors_max_iou(anchors, gt, f.get(i, "crowd_boxes"), f.get(i, "inside_flags"), c);
    CHECK(r.gt_index.to_vector<std::int64_t>() == f.get(i, "gt_index").to_vector<std::int64_t>());
    CHECK(normalised_error(r.max_iou, f.get(i, "max_iou")) <= 1e-6);

    const AnchorTargets t = anchor_targets(anchors, r, gt, f.get(i, "gt_labels"), num_classes);
    CHECK(t.labels.to_vector<std::int64_t>() == f.get(i, "labels").to_vector<std::int64_t>());
    CHECK(normalised_error(t.label_weights, f.get(i, "label_weights")) == 0.0);  // exact 0 / 1
    CHECK(normalised_error(t.bbox_weights, f.get(i, "bbox_weights")) == 0.0);
    CHECK(normalised_error(t.bbox_targets, f.get(i, "bbox_targets")) <= 2e-6);
    CHECK(t.num_pos == r.num_pos);
    CHECK(t.num_neg == r.num_neg);
  }
}

TEST_CASE("assign: random integer boxes against mmdet's steps transcribed, every option") {
  std::mt19937 rng(17);
  std::vector<AssignerConfig> configs(5);
  configs[1].gt_max_assign = GtMaxAssign::FirstAnchor;
  configs[2].low_quality = LowQualityMatch::Off;
  configs[3].ignore_iof_thr = 0.5f;
  configs[4].min_pos_iou = 0.2f;
  configs[4].ignore_iof_thr = 0.3f;
  configs[4].pos_iou_thr = 0.6f;
  configs[4].neg_iou_thr = 0.3f;
  int trial = 0;
  for (const std::int64_t a_count : {1, 9, 131, 2003}) {
    for (const std::int64_t g_count : {0, 1, 3, 8}) {
      for (const AssignerConfig& c : configs) {
        CAPTURE(a_count);
        CAPTURE(g_count);
        CAPTURE(trial);
        ++trial;
        // Anchors on a coarse grid of sizes so that many share IoUs (ties); gts sometimes repeated.
        const Tensor anchors = integer_boxes(a_count, rng, 40, 20);
        Tensor gts = integer_boxes(g_count, rng, 40, 25);
        if (g_count >= 3) std::copy_n(gts.data<float>(), 4, gts.data<float>() + 8);  // gt 2 == gt 0
        const Tensor crowd = integer_boxes(trial % 3, rng, 40, 30);
        std::vector<bool> inside(static_cast<std::size_t>(a_count));
        for (std::int64_t a = 0; a < a_count; ++a) inside[a] = (trial % 2 == 0) || (rng() % 5 != 0);

        const Reference ref = reference_assign(anchors, gts, crowd, inside, c);
        const AssignResult r = assign_anchors_max_iou(anchors, gts, crowd, flags_tensor(inside), c);
        CHECK(r.gt_index.to_vector<std::int64_t>() == ref.gt_index);
        CHECK(r.max_iou.to_vector<float>() == ref.max_iou);  // integer boxes: identical roundings
      }
    }
  }
}

TEST_CASE("assign: targets follow the assignment") {
  std::mt19937 rng(23);
  const std::int64_t n = 700;
  const Tensor anchors = integer_boxes(n, rng, 60, 30);
  const Tensor gts = integer_boxes(5, rng, 60, 30);
  const Tensor labels = Tensor::from_vector<std::int32_t>({3, 0, 6, 3, 1}, Shape{5});  // i32 accepted
  const AssignResult r = assign_anchors_max_iou(anchors, gts, Tensor(), Tensor());
  const AnchorTargets t = anchor_targets(anchors, r, gts, labels, 7);
  REQUIRE(r.num_pos > 0);
  REQUIRE(r.num_neg > 0);
  const std::int64_t* g = r.gt_index.data<std::int64_t>();
  // Each anchor's matched gt (itself when unmatched), encoded in one call.
  Tensor matched = anchors.clone();
  for (std::int64_t a = 0; a < n; ++a)
    if (g[a] >= 0) std::copy_n(gts.data<float>() + 4 * g[a], 4, matched.data<float>() + 4 * a);
  const Tensor expect = encode_box_deltas(anchors, matched);
  for (std::int64_t a = 0; a < n; ++a) {
    CAPTURE(a);
    const float* target = t.bbox_targets.data<float>() + 4 * a;
    const float* weight = t.bbox_weights.data<float>() + 4 * a;
    const bool pos = g[a] >= 0;
    CHECK(t.labels.data<std::int64_t>()[a] == (pos ? labels.data<std::int32_t>()[g[a]] : 7));
    CHECK(t.label_weights.data<float>()[a] == (g[a] >= kNegativeAnchor ? 1.f : 0.f));
    for (int k = 0; k < 4; ++k) {
      // The same per-box function on the same inputs: identical values.
      CHECK(target[k] == (pos ? expect.data<float>()[4 * a + k] : 0.f));
      CHECK(weight[k] == (pos ? 1.f : 0.f));
    }
  }
}

TEST_CASE("assign: empty gt, empty anchors, all outside, crowd-only images") {
  std::mt19937 rng(29);
  const Tensor anchors = integer_boxes(50, rng, 30, 15);
  std::vector<bool> inside(50, true);
  inside[3] = inside[10] = false;
  AssignerConfig crowd_on;
  crowd_on.ignore_iof_thr = 0.5f;
  // No gt: inside anchors negative (crowd boxes are then not consulted, as in mmdet), others ignored.
  const Tensor crowd = Tensor::from_vector<float>({0, 0, 30, 30}, Shape{1, 4});
  const AssignResult r = assign_anchors_max_iou(anchors, Tensor::zeros({0, 4}), crowd, flags_tensor(inside), crowd_on);
  for (std::int64_t a = 0; a < 50; ++a) CHECK(r.gt_index.data<std::int64_t>()[a] == (inside[a] ? -1 : -2));
  CHECK(r.num_neg == 48);
  CHECK(r.max_iou.to_vector<float>() == std::vector<float>(50, 0.f));
  const AnchorTargets t = anchor_targets(anchors, r, Tensor::zeros({0, 4}), Tensor::zeros({0}, DType::I64), 80);
  CHECK(t.num_pos == 0);
  CHECK(t.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>(50, 80));

  // No anchors.
  const AssignResult none =
      assign_anchors_max_iou(Tensor::zeros({0, 4}), integer_boxes(2, rng, 30, 10), Tensor(), Tensor());
  CHECK(none.gt_index.shape() == Shape{0});
  // Every anchor outside: all ignored.
  const AssignResult outside =
      assign_anchors_max_iou(anchors, integer_boxes(2, rng, 30, 10), Tensor(), Tensor::zeros({50}, DType::U8));
  CHECK(outside.gt_index.to_vector<std::int64_t>() == std::vector<std::int64_t>(50, kIgnoredAnchor));
}

TEST_CASE("assign: a zero-size gt claims every zero-IoU anchor when min_pos_iou = 0 (mmdet's >=)") {
  const AnchorGenerator gen;
  const Tensor anchors = gen.grid_anchors(0, {4, 4});
  const Tensor gts = Tensor::from_vector<float>({5, 5, 5, 5, 8, 8, 40, 40}, Shape{2, 4});
  const AssignResult r = assign_anchors_max_iou(anchors, gts, Tensor(), Tensor());
  const Reference ref =
      reference_assign(anchors, gts, Tensor::zeros({0, 4}), std::vector<bool>(anchors.size(0), true), {});
  CHECK(r.gt_index.to_vector<std::int64_t>() == ref.gt_index);
  std::int64_t claimed = 0;
  for (const std::int64_t g : ref.gt_index) claimed += g == 0;
  CHECK(claimed > anchors.size(0) / 2);
  AssignerConfig strict;
  strict.min_pos_iou = 1e-6f;  // any positive floor stops it
  const AssignResult s = assign_anchors_max_iou(anchors, gts, Tensor(), Tensor(), strict);
  for (const std::int64_t g : s.gt_index.to_vector<std::int64_t>()) CHECK(g != 0);
}

TEST_CASE("assign: independent of the thread count") {
  std::mt19937 rng(31);
  const Tensor anchors = integer_boxes(40000, rng, 400, 60);  // several chunks of 8192 anchors
  const Tensor gts = integer_boxes(12, rng, 400, 80);
  const Tensor crowd = integer_boxes(2, rng, 400, 100);
  AssignerConfig c;
  c.ignore_iof_thr = 0.5f;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const AssignResult serial = assign_anchors_max_iou(anchors, gts, crowd, Tensor(), c);
  omp_set_num_threads(std::max(threads, 4));
  const AssignResult parallel = assign_anchors_max_iou(anchors, gts, crowd, Tensor(), c);
  omp_set_num_threads(threads);
  CHECK(serial.gt_index.to_vector<std::int64_t>() == parallel.gt_index.to_vector<std::int64_t>());
  CHECK(serial.max_iou.to_vector<float>() == parallel.max_iou.to_vector<float>());
}

TEST_CASE("assign: input validation names the op and the shapes") {
  const Tensor anchors = Tensor::zeros({6, 4}), gts = Tensor::from_vector<float>({0, 0, 1, 1}, Shape{1, 4});
  CHECK_THROWS_WITH_AS(assign_anchors_max_iou(anchors, Tensor::zeros({1, 3}), Tensor(), Tensor()),
                       doctest::Contains("assign_anchors_max_iou: gt_boxes must be [*, 4]"), Error);
  CHECK_THROWS_WITH_AS(assign_anchors_max_iou(anchors, gts, Tensor(), Tensor::ones({5}, DType::U8)),
                       doctest::Contains("inside_flags must be [6]"), Error);
  const AssignResult r = assign_anchors_max_iou(anchors, gts, Tensor(), Tensor());
  CHECK_THROWS_WITH_AS(anchor_targets(anchors, r, gts, Tensor::from_vector<std::int64_t>({5}, Shape{1}), 5),
                       doctest::Contains("gt_labels[0] = 5 is outside [0, 5)"), Error);
  CHECK_THROWS_WITH_AS(anchor_targets(anchors, r, gts, Tensor::zeros({2}, DType::I64), 5),
                       doctest::Contains("anchor_targets: gt_labels [2] does not match gt_boxes [1, 4]"), Error);
  CHECK_THROWS_AS(anchor_targets(Tensor::zeros({7, 4}), r, gts, Tensor::zeros({1}, DType::I64), 5), Error);
}
