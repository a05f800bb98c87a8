// Matching, sampling and encoding for Faster R-CNN's targets (the math is in sampling.h). All on
// the host: an image has a few hundred thousand anchors at most and a few thousand proposals.
#include "detection/faster_rcnn/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/check.h"

namespace ghm::detection {
namespace {

void check_boxes(const Tensor& t, const char* what) {
  GHM_CHECK(t.dim() == 2 && t.size(1) == 4 && t.dtype() == DType::F32 && t.device().is_cpu(), what,
            " must be a [M, 4] float32 tensor on the CPU, got ", t.shape(), " ", t.dtype(), " on ", t.device());
}

// k of the indices in `pool` (all of them when k >= size), ascending.
std::vector<std::int64_t> choose(std::vector<std::int64_t> pool, std::int64_t k, const Sampling& s) {
  const auto n = static_cast<std::int64_t>(pool.size());
  k = std::min(k, n);
  if (s.order == SampleOrder::Random) {
    GHM_CHECK(s.generator != nullptr, "sample_balanced: random sampling needs a generator");
    for (std::int64_t i = 0; i < k; ++i) {  // partial Fisher-Yates
      const auto j = i + static_cast<std::int64_t>(s.generator->next_u64() % static_cast<std::uint64_t>(n - i));
      std::swap(pool[static_cast<std::size_t>(i)], pool[static_cast<std::size_t>(j)]);
    }
  }
  pool.resize(static_cast<std::size_t>(k));
  std::sort(pool.begin(), pool.end());
  return pool;
}

}  // namespace

Tensor box_iou_no_eps(const Tensor& a, const Tensor& b) {
  check_boxes(a, "box_iou_no_eps: a");
  check_boxes(b, "box_iou_no_eps: b");
  const std::int64_t g = a.size(0), m = b.size(0);
  Tensor out = Tensor::empty(Shape{g, m});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* o = out.data<float>();
  for (std::int64_t i = 0; i < g; ++i) {
    const float* x = pa + 4 * i;
    const float area_a = (x[2] - x[0]) * (x[3] - x[1]);
    for (std::int64_t j = 0; j < m; ++j) {
      const float* y = pb + 4 * j;
      const float area_b = (y[2] - y[0]) * (y[3] - y[1]);
      const float w = std::max(std::min(x[2], y[2]) - std::max(x[0], y[0]), 0.0f);
      const float h = std::max(std::min(x[3], y[3]) - std::max(x[1], y[1]), 0.0f);
      const float inter = w * h;
      o[i * m + j] = inter / (area_a + area_b - inter);
    }
  }
  return out;
}

std::vector<std::int64_t> match_boxes(const Tensor& gt, const Tensor& boxes, const MatcherConfig& c) {
  const Tensor iou = box_iou_no_eps(gt, boxes);
  const std::int64_t g = gt.size(0), m = boxes.size(0);
  std::vector<std::int64_t> out(static_cast<std::size_t>(m), kBelowLow);
  if (g == 0) return out;
  const float* q = iou.data<float>();
  std::vector<std::int64_t> best_gt(static_cast<std::size_t>(m), 0);
  for (std::int64_t j = 0; j < m; ++j) {
    float best = q[j];
    for (std::int64_t i = 1; i < g; ++i)
      if (q[i * m + j] > best) best = q[i * m + j], best_gt[static_cast<std::size_t>(j)] = i;
    out[static_cast<std::size_t>(j)] = best < c.low ? kBelowLow : best < c.high ? kBetween : best_gt[static_cast<std::size_t>(j)];
  }
  if (!c.allow_low_quality_matches) return out;
  for (std::int64_t i = 0; i < g; ++i) {
    const float* row = q + i * m;
    const float top = *std::max_element(row, row + m);
    for (std::int64_t j = 0; j < m; ++j)
      if (row[j] == top) out[static_cast<std::size_t>(j)] = best_gt[static_cast<std::size_t>(j)];
  }
  return out;
}

SampledIndices sample_balanced(const std::vector<std::int64_t>& labels, std::int64_t batch_per_image,
                               double positive_fraction, const Sampling& sampling) {
  GHM_CHECK(batch_per_image > 0 && positive_fraction >= 0.0 && positive_fraction <= 1.0,
            "sample_balanced: batch_per_image ", batch_per_image, " must be positive and positive_fraction ",
            positive_fraction, " in [0, 1]");
  std::vector<std::int64_t> pos, neg;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= 1) pos.push_back(static_cast<std::int64_t>(i));
    if (labels[i] == 0) neg.push_back(static_cast<std::int64_t>(i));
  }
  // int(batch * fraction) in Python: the product in double, truncated.
  const auto wanted_pos = static_cast<std::int64_t>(static_cast<double>(batch_per_image) * positive_fraction);
  SampledIndices out;
  out.positive = choose(std::move(pos), wanted_pos, sampling);
  const std::int64_t wanted_neg = batch_per_image - static_cast<std::int64_t>(out.positive.size());
  out.negative = choose(std::move(neg), wanted_neg, sampling);
  return out;
}

Tensor encode_boxes(const Tensor& gt, const Tensor& boxes, const std::array<float, 4>& weights) {
  check_boxes(gt, "encode_boxes: gt");
  check_boxes(boxes, "encode_boxes: boxes");
  GHM_CHECK(gt.size(0) == boxes.size(0), "encode_boxes: ", gt.size(0), " gt boxes for ", boxes.size(0), " boxes");
  const float* g = gt.data<float>();
  const float* b = boxes.data<float>();
  Tensor out = Tensor::empty(gt.shape());
  float* o = out.data<float>();
  for (std::int64_t i = 0; i < gt.size(0); ++i) {
    const float* gi = g + 4 * i;
    const float* bi = b + 4 * i;
    const float bw = bi[2] - bi[0], bh = bi[3] - bi[1];
    const float bx = bi[0] + 0.5f * bw, by = bi[1] + 0.5f * bh;
    const float gw = gi[2] - gi[0], gh = gi[3] - gi[1];
    const float gx = gi[0] + 0.5f * gw, gy = gi[1] + 0.5f * gh;
    o[4 * i + 0] = weights[0] * (gx - bx) / bw;
    o[4 * i + 1] = weights[1] * (gy - by) / bh;
    o[4 * i + 2] = weights[2] * std::log(gw / bw);
    o[4 * i + 3] = weights[3] * std::log(gh / bh);
  }
  return out;
}

}  // namespace ghm::detection
