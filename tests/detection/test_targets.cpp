// Batch targets and the detection loss (detection/targets.h, detection/retinanet/loss.h).
//
// The batch layout is checked against the single-image path it is built from (assign + targets per
// image, already tested against mmdetection): every (level, image, anchor) row must hold exactly
// that image's target for that anchor. head_rows is checked against the same index formula on a
// tensor whose values encode their own coordinates. The loss is checked against the reference's
// way of computing it: GHM-C called once per level over that level's rows in order with one shared
// state, GHM-R called per level over all anchors with the box weights as label weights (our loss
// gathers the positives first, which must not change anything), and the baselines divided by
// num_total_pos = sum over images of max(positives, 1).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/ops/shape_ops.h"
#include "core/random.h"
#include "detection/retinanet/loss.h"
#include "detection/targets.h"
#include "losses/baselines.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

constexpr std::int64_t kClasses = 3;

ImageGroundTruth make_gt(std::vector<float> boxes, std::vector<std::int64_t> labels, ImageSize size) {
  ImageGroundTruth gt;
  const auto g = static_cast<std::int64_t>(labels.size());
  gt.boxes = Tensor::from_vector(boxes, {g, 4});
  gt.labels = Tensor::from_vector(labels, {g});
  gt.size = size;
  return gt;
}

// Two images of different sizes in one 128x128 batch (P3..P7 of 16, 8, 4, 2, 1 cells).
struct Batch2 {
  AnchorGenerator generator;
  std::vector<FeatureSize> sizes{{16, 16}, {8, 8}, {4, 4}, {2, 2}, {1, 1}};
  std::vector<ImageGroundTruth> images;
  TargetConfig config;
  Batch2() {
    images.push_back(make_gt({10, 12, 50, 60, 70, 20, 120, 90, 30, 30, 34, 36}, {0, 2, 1}, {128, 128}));
    images.push_back(make_gt({}, {}, {90, 100}));  // no boxes: all negative where valid
    config.size_divisor = 32;
  }
};

}  // namespace

TEST_CASE("batch targets: level-major rows equal each image's own targets") {
  Batch2 b;
  const BatchTargets t = batch_targets(b.generator, b.sizes, b.images, kClasses, b.config);
  const MultiLevelAnchors anchors = b.generator.grid_anchors(b.sizes);
  const std::int64_t a = b.generator.anchors_per_location();
  REQUIRE(t.level_rows.size() == 6);
  CHECK(t.level_rows.back() == 2 * anchors.anchors.size(0));

  std::int64_t expect_total_pos = 0, expect_pos = 0;
  for (std::int64_t n = 0; n < 2; ++n) {
    const ImageGroundTruth& gt = b.images[n];
    const ImageSize pad{(gt.size.height + 31) / 32 * 32, (gt.size.width + 31) / 32 * 32};
    const Tensor valid = b.generator.valid_flags(b.sizes, pad);
    const AssignResult assign = assign_anchors_max_iou(anchors.anchors, gt.boxes, Tensor(), valid);
    const AnchorTargets it = anchor_targets(anchors.anchors, assign, gt.boxes, gt.labels, kClasses);
    expect_pos += it.num_pos;
    expect_total_pos += std::max<std::int64_t>(it.num_pos, 1);
    for (int l = 0; l < 5; ++l) {
      const std::int64_t count = b.sizes[l].height * b.sizes[l].width * a;
      for (std::int64_t i = 0; i < count; ++i) {
        const std::int64_t r = t.level_rows[l] + n * count + i, s = anchors.level_begin[l] + i;
        REQUIRE(t.labels.data<std::int64_t>()[r] == it.labels.data<std::int64_t>()[s]);
        REQUIRE(t.label_weights.data<float>()[r] == it.label_weights.data<float>()[s]);
        for (int c = 0; c < 4; ++c) {
          REQUIRE(t.bbox_targets.data<float>()[4 * r + c] == it.bbox_targets.data<float>()[4 * s + c]);
          REQUIRE(t.bbox_weights.data<float>()[4 * r + c] == it.bbox_weights.data<float>()[4 * s + c]);
        }
      }
    }
  }
  CHECK(t.num_pos == expect_pos);
  CHECK(t.num_pos > 0);
  CHECK(t.num_total_pos == expect_total_pos);
  CHECK(t.num_total_pos == t.num_pos + 1);  // the empty image counts as 1
  CHECK(t.avg_factor == static_cast<double>(t.num_total_pos));
  CHECK(static_cast<std::int64_t>(t.positive_rows.size()) == t.num_pos);
  for (int l = 0; l < 5; ++l)
    for (std::int64_t p = t.positive_level_rows[l]; p < t.positive_level_rows[l + 1]; ++p) {
      CHECK(t.positive_rows[p] >= t.level_rows[l]);
      CHECK(t.positive_rows[p] < t.level_rows[l + 1]);
    }

  // The second image (90x100, padded to 96x128) has invalid cells on P3: ignored, weight 0.
  const std::int64_t p3 = 16 * 16 * a;
  const std::int64_t last_row_cell = t.level_rows[0] + p3 + ((15 * 16) + 15) * a;  // cell (15, 15)
  CHECK(t.label_weights.data<float>()[last_row_cell] == 0.0f);
  CHECK(t.label_weights.data<float>()[t.level_rows[0] + p3] == 1.0f);  // cell (0, 0) negative
}

TEST_CASE("head_rows: [N, A*C, H, W] levels become level-major (level, image, y, x, anchor) rows") {
  const std::int64_t n = 2, a = 2, c = 3;
  const std::vector<std::pair<std::int64_t, std::int64_t>> hw{{3, 4}, {2, 1}};
  std::vector<Tensor> levels;
  for (std::size_t l = 0; l < hw.size(); ++l) {
    const auto [h, w] = hw[l];
    Tensor x = Tensor::empty({n, a * c, h, w});
    float* p = x.data<float>();
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t ch = 0; ch < a * c; ++ch)
        for (std::int64_t y = 0; y < h; ++y)
          for (std::int64_t xx = 0; xx < w; ++xx)
            p[((i * a * c + ch) * h + y) * w + xx] = static_cast<float>(l * 100000 + i * 10000 + ch * 100 + y * 10 + xx);
    levels.push_back(x);
  }
  const Tensor rows = head_rows(levels, c);
  REQUIRE(rows.shape() == Shape{n * a * (12 + 2), c});
  std::int64_t r = 0;
  for (std::size_t l = 0; l < hw.size(); ++l)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t y = 0; y < hw[l].first; ++y)
        for (std::int64_t xx = 0; xx < hw[l].second; ++xx)
          for (std::int64_t k = 0; k < a; ++k, ++r)
            for (std::int64_t cc = 0; cc < c; ++cc)
              REQUIRE(rows.data<float>()[r * c + cc] ==
                      static_cast<float>(l * 100000 + i * 10000 + (k * c + cc) * 100 + y * 10 + xx));
}

namespace {

struct LossCase {
  Batch2 b;
  BatchTargets t;
  Tensor cls_rows, box_rows;
  LossCase() {
    t = batch_targets(b.generator, b.sizes, b.images, kClasses, b.config);
    Generator gen(7);
    const std::int64_t rows = t.level_rows.back();
    cls_rows = Tensor::normal({rows, kClasses}, -2.0f, 1.5f, gen);
    box_rows = Tensor::normal({rows, 4}, 0.0f, 0.3f, gen);
  }
  Tensor level(const Tensor& x, int l) const {
    return narrow(x, 0, t.level_rows[l], t.level_rows[l + 1] - t.level_rows[l]);
  }
};

}  // namespace

TEST_CASE("detection loss: GHM-C and GHM-R per level equal the reference's per-level calls") {
  LossCase c;
  DetectionLossConfig config;  // ghmc 30 / 0.75, ghmr 0.02 / 10 / 0.7 / 10, per level
  config.ghm_call_stats = true;
  DetectionLossState state(config);
  losses::GhmEmaState ref_cls(30), ref_reg(10);
  for (int iteration = 0; iteration < 3; ++iteration) {  // the EMA carries over
    const DetectionLoss ours = detection_loss(c.cls_rows, c.box_rows, c.t, config, state);
    double ref_c = 0, ref_r = 0;
    for (int l = 0; l < 5; ++l) {
      ref_c += losses::ghm_c_forward(c.level(c.cls_rows, l), c.level(c.t.labels, l), c.level(c.t.label_weights, l),
                                     config.cls.ghmc, ref_cls)
                   .total;
      ref_r += losses::ghm_r_forward(c.level(c.box_rows, l), c.level(c.t.bbox_targets, l),
                                     c.level(c.t.bbox_weights, l), config.reg.ghmr, ref_reg)
                   .total;
    }
    // same per-call sums in a different summation order of zero terms: float32 rounding only
    CHECK(ours.cls.item() == doctest::Approx(ref_c).epsilon(1e-5));
    CHECK(ours.reg.item() == doctest::Approx(ref_r).epsilon(1e-5));
    CHECK(ours.cls_calls.size() == 5);
    CHECK(ours.reg_calls.size() == 5);
    CHECK(ours.total.item() == doctest::Approx(ref_c + ref_r).epsilon(1e-5));
    for (int i = 0; i < 30; ++i) CHECK(state.cls.acc_sum[i] == doctest::Approx(ref_cls.acc_sum[i]).epsilon(1e-6));
    for (int i = 0; i < 10; ++i) CHECK(state.reg.acc_sum[i] == doctest::Approx(ref_reg.acc_sum[i]).epsilon(1e-6));
  }
}

TEST_CASE("detection loss: batch scope is one call, baselines divide by num_total_pos, gradients flow") {
  LossCase c;
  DetectionLossConfig config;
  config.cls.scope = losses::GhmScope::Batch;
  config.reg.scope = losses::GhmScope::Batch;
  config.ghm_call_stats = true;
  DetectionLossState state(config);
  const DetectionLoss batch = detection_loss(c.cls_rows, c.box_rows, c.t, config, state);
  CHECK(batch.cls_calls.size() == 1);
  CHECK(batch.reg_calls.size() == 1);
  CHECK(batch.reg_calls[0].tot == doctest::Approx(4.0 * static_cast<double>(c.t.num_pos)));

  config.cls.kind = ClsLossKind::Focal;
  config.reg.kind = RegLossKind::SmoothL1;
  const DetectionLoss fl = detection_loss(c.cls_rows, c.box_rows, c.t, config, state);
  const double avg = static_cast<double>(c.t.num_total_pos);
  CHECK(fl.cls.item() == doctest::Approx(losses::sigmoid_focal_loss(c.cls_rows, c.t.labels, c.t.label_weights, avg).item()));
  CHECK(fl.reg.item() == doctest::Approx(
                             losses::smooth_l1_loss(c.box_rows, c.t.bbox_targets, c.t.bbox_weights, avg, 0.11f).item())
                             .epsilon(1e-5));

  config.cls.kind = ClsLossKind::CrossEntropy;
  config.reg.kind = RegLossKind::Asl1;
  Tensor cls = c.cls_rows.clone(), box = c.box_rows.clone();
  cls.set_requires_grad(true);
  box.set_requires_grad(true);
  const DetectionLoss ce = detection_loss(cls, box, c.t, config, state);
  CHECK(ce.cls.item() == doctest::Approx(losses::bce_with_logits_loss(c.cls_rows, c.t.labels, c.t.label_weights, avg).item()));
  CHECK(ce.reg.item() ==
        doctest::Approx(losses::asl1_loss(c.box_rows, c.t.bbox_targets, c.t.bbox_weights, avg).item()).epsilon(1e-5));
  ce.total.backward();
  // Box gradients exist only on positive rows; class gradients are zero on ignored rows.
  const float* gbox = box.grad().data<float>();
  std::int64_t nonzero_rows = 0;
  for (std::int64_t r = 0; r < box.size(0); ++r) nonzero_rows += gbox[4 * r] != 0.0f;
  CHECK(nonzero_rows == c.t.num_pos);
  const float* gcls = cls.grad().data<float>();
  for (std::int64_t r = 0; r < cls.size(0); ++r)
    if (c.t.label_weights.data<float>()[r] == 0.0f) REQUIRE(gcls[r * kClasses] == 0.0f);
}
