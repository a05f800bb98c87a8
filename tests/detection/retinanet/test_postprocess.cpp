// Post-processing against a plain reference written from the description in
// detection/retinanet/postprocess.h: every (level, location, anchor, class) enumerated, sigmoid in double,
// threshold, per-level top-k, decode (the shared per-box decoder, tested in test_box_coder.cpp),
// greedy class-wise NMS in double, top max_detections, rescale and clip.
// Tolerance: float32 boxes against the same decoder; scores float32 vs double sigmoid: 1e-6.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/random.h"
#include "detection/retinanet/postprocess.h"
#include "tests/detection/detection_cases.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

struct Ref {
  std::vector<std::array<double, 4>> boxes;
  std::vector<double> scores;
  std::vector<std::int64_t> labels;
};

double iou(const std::array<double, 4>& a, const std::array<double, 4>& b) {
  const double w = std::max(0.0, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const double h = std::max(0.0, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const double inter = w * h, ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return inter / std::max(ua, 1e-6);
}

Ref reference(const std::vector<Tensor>& cls, const std::vector<Tensor>& box, const std::vector<Tensor>& anchors,
              std::int64_t k, std::int64_t img, ImageSize size, double scale, const PostprocessConfig& c) {
  struct Cand {
    double score;
    std::int64_t level, p, a, cls;
  };
  std::vector<Cand> all;
  for (std::size_t l = 0; l < cls.size(); ++l) {
    const std::int64_t a = cls[l].size(1) / k, h = cls[l].size(2), w = cls[l].size(3);
    std::vector<Cand> level;
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        for (std::int64_t an = 0; an < a; ++an)
          for (std::int64_t kk = 0; kk < k; ++kk) {
            const double logit = cls[l].data<float>()[((img * a * k + an * k + kk) * h + y) * w + x];
            const double s = 1.0 / (1.0 + std::exp(-logit));
            if (s > c.score_thresh) level.push_back({s, static_cast<std::int64_t>(l), y * w + x, an, kk});
          }
    std::stable_sort(level.begin(), level.end(), [](const Cand& p, const Cand& q) { return p.score > q.score; });
    if (static_cast<std::int64_t>(level.size()) > c.topk_per_level) level.resize(static_cast<std::size_t>(c.topk_per_level));
    all.insert(all.end(), level.begin(), level.end());
  }
  std::vector<std::array<double, 4>> boxes;
  for (const Cand& cd : all) {
    const Tensor& d = box[static_cast<std::size_t>(cd.level)];
    const std::int64_t a = d.size(1) / 4, hw = d.size(2) * d.size(3);
    float delta[4], out[4];
    for (int q = 0; q < 4; ++q) delta[q] = d.data<float>()[(img * a * 4 + cd.a * 4 + q) * hw + cd.p];
    decode_box_delta(anchors[static_cast<std::size_t>(cd.level)].data<float>() + (cd.p * a + cd.a) * 4, delta,
                     c.coder.means.data(), c.coder.stds.data(), kMaxLogRatio, true, static_cast<float>(size.height),
                     static_cast<float>(size.width), out);
    boxes.push_back({out[0], out[1], out[2], out[3]});
  }
  std::vector<std::size_t> order(all.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t p, std::size_t q) { return all[p].score > all[q].score; });
  std::vector<bool> removed(all.size(), false);
  Ref r;
  for (std::size_t oi = 0; oi < order.size(); ++oi) {
    const std::size_t i = order[oi];
    if (removed[i]) continue;
    if (static_cast<std::int64_t>(r.scores.size()) < c.max_detections) {
      std::array<double, 4> b = boxes[i];
      for (int q = 0; q < 4; ++q)
        b[static_cast<std::size_t>(q)] = std::clamp(b[static_cast<std::size_t>(q)] / scale, 0.0,
                                                    (q % 2 == 0 ? size.width : size.height) / scale);
      r.boxes.push_back(b);
      r.scores.push_back(all[i].score);
      r.labels.push_back(all[i].cls);
    }
    for (std::size_t oj = oi + 1; oj < order.size(); ++oj) {
      const std::size_t j = order[oj];
      if (all[j].cls == all[i].cls && iou(boxes[i], boxes[j]) > c.nms_iou) removed[j] = true;
    }
  }
  return r;
}

}  // namespace

TEST_CASE("postprocess: threshold, per-level top-k, decode, class-wise NMS, top-N and rescale") {
  Generator gen(31);
  const std::int64_t n = 2, k = 3;
  const auto [cls, box, anchors] = testing::random_head_outputs(
      {.images = n, .classes = k, .anchors_per_location = 2, .level_sizes = {{4, 5}, {2, 3}}, .logit_mean = -1.0f,
       .logit_std = 1.5f, .span_x = 40, .span_y = 30, .max_side = 20},
      gen);
  PostprocessConfig c;
  c.score_thresh = 0.3f;
  c.topk_per_level = 7;
  c.nms_iou = 0.4f;
  c.max_detections = 6;
  const std::vector<ImageSize> input = {{32, 40}, {30, 36}};
  const std::vector<double> scale = {0.5, 0.8};
  const std::vector<ImageDetections> dets = postprocess(cls, box, anchors, k, input, scale, c);
  REQUIRE(dets.size() == 2);
  for (std::int64_t img = 0; img < n; ++img) {
    CAPTURE(img);
    const Ref r = reference(cls, box, anchors, k, img, input[static_cast<std::size_t>(img)], scale[static_cast<std::size_t>(img)], c);
    const ImageDetections& d = dets[static_cast<std::size_t>(img)];
    REQUIRE(d.scores.numel() == static_cast<std::int64_t>(r.scores.size()));
    CHECK(d.scores.numel() > 0);
    for (std::size_t i = 0; i < r.scores.size(); ++i) {
      CAPTURE(i);
      CHECK(d.scores.data<float>()[i] == doctest::Approx(r.scores[i]).epsilon(1e-6));
      CHECK(d.labels.data<std::int64_t>()[i] == r.labels[i]);
      for (int q = 0; q < 4; ++q) CHECK(d.boxes.data<float>()[i * 4 + q] == doctest::Approx(r.boxes[i][static_cast<std::size_t>(q)]).epsilon(1e-5));
    }
  }
  // Nothing above the threshold: no detections; mismatched levels: an error naming the level.
  PostprocessConfig none = c;
  none.score_thresh = 0.9999f;
  CHECK(postprocess(cls, box, anchors, k, input, scale, none)[0].scores.numel() == 0);
  CHECK_THROWS_WITH_AS(postprocess(cls, box, {anchors[1], anchors[0]}, k, input, scale, c),
                       doctest::Contains("level 0 anchors"), Error);
}
