// The training targets of a whole batch, laid out the way the losses consume them: all anchors of
// all images, level-major.
//
// Per image, the anchors of all levels are assigned at once (detection/assign.h, mmdetection's
// MaxIoUAssigner over `flat_anchors[inside_flags]`), which gives per-anchor labels, label weights,
// box targets and box weights in the image's (level, y, x, a) order. The batch layout puts levels
// outermost:
//
//   row r of level l, image n, anchor i (i over that level's H_l * W_l * A anchors):
//     r = level_rows[l] + n * (H_l * W_l * A) + i
//
// which is exactly the order of the head's outputs after `[N, A*K, H, W] -> [N, H, W, A*K] ->
// [N*H*W*A, K]` and concatenating the levels (head_rows below). One GHM call per level is then the
// row range [level_rows[l], level_rows[l + 1]) - the reference's per-level call over all images of
// a GPU - and one call over everything is the batch scope.
//
// Anchor validity follows mmdetection: anchors of cells outside the image's own padded extent
// (its size rounded up to the size divisor) are invalid, hence ignored (label weight 0); with
// allowed_border < 0 (the RetinaNet config) no anchor is dropped for crossing the image border.
//
// Normalisers (mmdetection v2 AnchorHead.get_targets): num_total_pos = sum over images of
// max(positives of the image, 1), the avg_factor of focal loss, CE and smooth L1/ASL1.
//
// Layout (letters used in this file): N images, L levels, A anchors per location, K classes,
// R = sum over levels of N * H_l * W_l * A rows.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "detection/anchors.h"
#include "detection/assign.h"

namespace ghm::detection {

// The ground truth of one image, in network-input pixels (after resize and flip).
struct ImageGroundTruth {
  Tensor boxes;        // [G, 4] f32 x1, y1, x2, y2
  Tensor labels;       // [G] i64 in [0, K)
  Tensor crowd_boxes;  // [C, 4] f32 regions to ignore (used when ignore_iof_thr > 0); may be undefined
  ImageSize size;      // the image's (unpadded) input size
};

struct TargetConfig {
  AssignerConfig assigner;
  BoxCoderParams coder;
  int allowed_border = -1;  // mmdet train_cfg.allowed_border; < 0 keeps every valid anchor
  int size_divisor = 128;   // each image's own padded extent, for the anchors' valid flags
};

struct BatchTargets {
  Tensor labels;                          // [R] i64: class in [0, K), or K for background/ignored
  Tensor label_weights;                   // [R] f32: 1 positive or negative, 0 ignored
  Tensor bbox_targets;                    // [R, 4] f32 encoded deltas (0 except on positives)
  Tensor bbox_weights;                    // [R, 4] f32 1 on positives
  std::vector<std::int64_t> level_rows;   // [L + 1] row offsets of the levels
  std::vector<std::int64_t> positive_rows;       // rows with labels < K, ascending (so level by level)
  std::vector<std::int64_t> positive_level_rows; // [L + 1] offsets of each level's positives in positive_rows
  std::int64_t num_pos = 0;               // positives in the batch
  std::int64_t num_neg = 0;               // negatives in the batch
  std::int64_t num_total_pos = 0;         // sum over images of max(positives, 1)
  // The normaliser of focal loss, CE, smooth L1 and ASL1: num_total_pos, unless the trainer of a
  // data-parallel job replaces it by its mean over the processes (dist.num_pos: mean).
  double avg_factor = 0;
};

// The same targets with their tensors on `device` (offsets and counts stay on the host): the
// assignment runs on the CPU, the losses on the model's device.
BatchTargets to_device(BatchTargets targets, Device device);

// feature_sizes: one per level (the head's output sizes); batch_pad: the batch tensor's H and W.
BatchTargets batch_targets(const AnchorGenerator& anchors, std::span<const FeatureSize> feature_sizes,
                           std::span<const ImageGroundTruth> images, std::int64_t num_classes,
                           const TargetConfig& config = {});

// The head's per-level outputs [N, A*C, H, W] (C = K for logits, 4 for deltas) as one [R, C]
// tensor in the row order above (differentiable: permute, reshape and concat).
Tensor head_rows(const std::vector<Tensor>& per_level, std::int64_t channels_per_anchor);

}  // namespace ghm::detection
