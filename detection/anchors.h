// RetinaNet anchors, as mmdetection v2's AnchorGenerator (mmdet/core/anchor/anchor_generator.py,
// scale_major=True, center_offset=0, base size = stride) builds them.
//
// Level l (P3..P7 for strides 8..128) has stride s and base size s. With ratios r (height / width)
// and scales c_j = octave_base_scale * 2^(j / scales_per_octave), j = 0..S-1:
//
//   h_ratio = sqrt(r)    w_ratio = 1 / h_ratio
//   w = (s * w_ratio) * c_j      h = (s * h_ratio) * c_j                   (float32, this order)
//   base anchor (i, j) = (-0.5 w, -0.5 h, 0.5 w, 0.5 h)                   centred on (0, 0)
//   index a = i * S + j: ratio-major, scale fastest (mmdet: `w_ratios[:, None] * scales[None, :]`)
//
// For a feature map of H x W, the anchor of cell (y, x) and base anchor a is base[a] shifted by
// (x * s, y * s, x * s, y * s), stored at row (y * W + x) * A + a of an [H * W * A, 4] tensor
// (x1, y1, x2, y2). That is the order of the head's output permuted from [N, A * K, H, W] to
// [N, H, W, A, K] and flattened to [N, H * W * A, K]. The RetinaNet config (3 ratios x 3 scales)
// gives A = 9 anchors per location. Everything is float32 with the reference's rounding, so anchors
// equal mmdet's bit for bit.
//
// Valid flags (mmdet `valid_flags`): in a batch padded beyond one image, only the cells that the
// image's own padded extent covers are valid: y < min(ceil(pad_h / s), H), x < min(ceil(pad_w / s), W).
// `anchor_inside_flags` then drops anchors crossing the image (not padded) border by more than
// `allowed_border` pixels; allowed_border < 0 (the RetinaNet config's -1) keeps all valid anchors.
// Flags are u8 (1 valid, 0 not), one per anchor row.
//
// Layout (letters used in this file): A anchors per location, H x W a level's feature map,
// T = sum over levels of H * W * A. Multi-level tensors concatenate the levels in config order.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "detection/iou.h"  // ImageSize

namespace ghm::detection {

struct FeatureSize {
  std::int64_t height = 0;
  std::int64_t width = 0;
};

struct AnchorConfig {
  std::vector<int> strides{8, 16, 32, 64, 128};  // one per level (P3..P7); base size = stride
  std::vector<float> ratios{0.5f, 1.0f, 2.0f};   // anchor height / width
  int octave_base_scale = 4;
  int scales_per_octave = 3;
};

// Scales c_j = octave_base_scale * 2^(j / scales_per_octave) (double, then float32, as mmdet).
std::vector<float> octave_scales(int octave_base_scale, int scales_per_octave);

// Base anchors [A, 4] of one level, A = ratios.size() * scales.size(), ratio-major.
Tensor base_anchors(int base_size, std::span<const float> ratios, std::span<const float> scales);

// base_anchors [A, 4] f32 -> anchors [H * W * A, 4] for one level (no cache).
Tensor grid_anchors(const Tensor& base_anchors, FeatureSize size, int stride);

// anchors [T, 4] f32, valid_flags [T] u8 -> inside flags [T] u8: valid and, when allowed_border >= 0,
// x1 >= -b, y1 >= -b, x2 < W + b, y2 < H + b for the image size (H, W) (mmdet `anchor_inside_flags`).
// With allowed_border < 0 the result is a copy of valid_flags.
Tensor anchor_inside_flags(const Tensor& anchors, const Tensor& valid_flags, ImageSize image, int allowed_border);

// All levels' anchors concatenated: anchors [T, 4]; level l owns rows [level_begin[l], level_begin[l+1]).
struct MultiLevelAnchors {
  Tensor anchors;
  std::vector<std::int64_t> level_begin;  // [L + 1]
};

// The anchors of a config, with each level's grid cached by (level, H, W). Returned tensors share
// the cache's storage: treat them as read-only. Thread-safe; movable, not copyable.
class AnchorGenerator {
 public:
  explicit AnchorGenerator(AnchorConfig config = {});
  ~AnchorGenerator();
  AnchorGenerator(AnchorGenerator&&) noexcept;
  AnchorGenerator& operator=(AnchorGenerator&&) noexcept;

  const AnchorConfig& config() const { return config_; }
  int num_levels() const { return static_cast<int>(config_.strides.size()); }
  std::int64_t anchors_per_location() const { return base_anchors_.front().size(0); }  // A
  const Tensor& base_anchors(int level) const;                                         // [A, 4]

  Tensor grid_anchors(int level, FeatureSize size) const;                             // [H * W * A, 4], cached
  MultiLevelAnchors grid_anchors(std::span<const FeatureSize> sizes) const;           // one size per level
  Tensor valid_flags(int level, FeatureSize size, ImageSize pad_shape) const;         // [H * W * A] u8
  Tensor valid_flags(std::span<const FeatureSize> sizes, ImageSize pad_shape) const;  // [T] u8

  // Most (level, H, W) grids kept; the least recently used one is dropped beyond that.
  static constexpr std::size_t kCacheEntries = 320;

 private:
  struct Cache;
  void check_level(int level, const char* op) const;

  AnchorConfig config_;
  std::vector<Tensor> base_anchors_;  // per level, [A, 4]
  std::unique_ptr<Cache> cache_;
};

}  // namespace ghm::detection
