// Matching and sampling of Faster R-CNN's training targets, as torchvision's
// models.detection._utils (v0.14): the Matcher, the BalancedPositiveNegativeSampler and
// BoxCoder.encode. The RPN matches anchors (0.7 / 0.3, low-quality matches on), the second stage
// matches proposals with the ground truth added (0.5 / 0.5, off).
//
// IoU (torchvision's box_iou, no eps): iou[g, m] = inter / (area_g + area_m - inter),
// area = (x2 - x1) (y2 - y1), inter from the clamped overlap; float32.
//
// Matcher, per box m:
//   best[m] = max_g iou[g, m], matched[m] = the FIRST g reaching it
//   best < low         -> kBelowLow (-1)
//   low <= best < high -> kBetween (-2)
//   otherwise          -> matched[m]
//   low-quality matches: for every gt g, each box m with iou[g, m] == max_m' iou[g, m'] gets
//   matched[m] back (its own best gt, not necessarily g), whatever the thresholds said.
//   No gt: every box is kBelowLow.
//
// Sampler, per image, over labels l[m] (>= 1 positive, 0 negative, -1 ignored):
//   positives = min(floor(batch * fraction), #positive) (the product in double, as Python's int()), negatives = min(batch - positives, #negative),
//   each drawn without replacement; torchvision draws with torch.randperm, ours with our Generator
//   (SampleOrder::Random), or takes the first ones by index (SampleOrder::First: deterministic, for
//   tests against a reference patched the same way). The chosen indices come back ascending.
//
// Encoding (BoxCoder.encode, weights (wx, wy, ww, wh)): w = x2 - x1, cx = x1 + 0.5 w (likewise y)
// for the box b and the gt g; t = (wx (cx_g - cx_b) / w_b, wy (cy_g - cy_b) / h_b,
// ww log(w_g / w_b), wh log(h_g / h_b)). Compiled without fused multiply-add, as decoding.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace ghm::detection {

constexpr std::int64_t kBelowLow = -1;
constexpr std::int64_t kBetween = -2;

struct MatcherConfig {
  float high = 0.7f;
  float low = 0.3f;
  bool allow_low_quality_matches = true;
};

// torchvision's box_iou: a [G, 4] and b [M, 4] on the CPU -> [G, M].
Tensor box_iou_no_eps(const Tensor& a, const Tensor& b);

// gt [G, 4], boxes [M, 4] (CPU) -> M matches: a gt index, kBelowLow or kBetween.
std::vector<std::int64_t> match_boxes(const Tensor& gt, const Tensor& boxes, const MatcherConfig& c);

enum class SampleOrder { Random, First };

struct Sampling {
  SampleOrder order = SampleOrder::Random;
  Generator* generator = nullptr;  // needed by Random
};

struct SampledIndices {
  std::vector<std::int64_t> positive, negative;  // ascending
};

// labels: >= 1 positive, 0 negative, < 0 ignored.
SampledIndices sample_balanced(const std::vector<std::int64_t>& labels, std::int64_t batch_per_image,
                               double positive_fraction, const Sampling& sampling);

// torchvision's BoxCoder.encode: gt [M, 4] against boxes [M, 4] (CPU) -> [M, 4].
Tensor encode_boxes(const Tensor& gt, const Tensor& boxes, const std::array<float, 4>& weights);

}  // namespace ghm::detection
