// Anchor assignment and the per-anchor training targets of one image, as mmdetection v2's
// MaxIoUAssigner (mmdet/core/bbox/assigners/max_iou_assigner.py) followed by AnchorHead's
// `_get_targets_single` with a PseudoSampler (no sampling), pos_weight -1 and unmap.
//
// Assignment (assign_anchors_max_iou), over the anchors flagged inside (the others are ignored and
// take no part, as mmdet assigns only `flat_anchors[inside_flags]`):
//
//   0. iou[g, a] = IoU(gt g, anchor a) (detection/iou.h, eps 1e-6). If ignore_iof_thr > 0 and there
//      are crowd boxes: an anchor whose IoF with some crowd box (intersection / anchor area)
//      exceeds ignore_iof_thr gets iou[:, a] = -1, so it can be neither negative nor positive.
//   1. every anchor starts ignored;
//   2. max_iou[a] = max_g iou[g, a], argmax[a] = the FIRST g reaching it (torch.max);
//      0 <= max_iou < neg_iou_thr  ->  negative;
//   3. max_iou >= pos_iou_thr      ->  positive, matched to argmax[a];
//   4. low-quality matches (match_low_quality): for g = 0, 1, ..., G-1 in order, if
//      gt_max[g] = max_a iou[g, a] satisfies gt_max[g] >= min_pos_iou, then every anchor with
//      iou[g, a] == gt_max[g] (gt_max_assign_all; otherwise only the first such anchor) becomes
//      positive for g, overriding steps 2-3 and earlier gts: among tied gts the LAST one wins.
//
//   No gt boxes: every inside anchor is negative (crowd boxes are then not consulted, as in mmdet).
//   Note `>=` in step 4 (mmdet's comparison): with min_pos_iou = 0 a gt that overlaps no anchor
//   (gt_max = 0), e.g. a zero-size gt, claims every anchor whose IoU with it is 0. mmdet's COCO
//   loader drops boxes narrower or shorter than 1 pixel, which keeps this from happening; our data
//   pipeline must do the same.
//
//   Thresholds are float32 and compared with float32 IoUs, as PyTorch compares a float tensor with
//   a Python float.
//
// Output per anchor: gt_index (i64) = g >= 0 positive (matched gt), kNegativeAnchor (-1), or
// kIgnoredAnchor (-2: between the thresholds, crowd-ignored, or not inside); max_iou (f32) = step 2's
// value (-1 for crowd-ignored anchors, 0 for anchors not inside and when there is no gt).
// mmdet encodes the same as gt_inds = g + 1 / 0 / -1.
//
// Targets (anchor_targets), with K classes:
//   labels[a]        = gt_labels[g] for positives, K (background) otherwise          i64
//   label_weights[a] = 1 for positives and negatives, 0 for ignored anchors          f32
//   bbox_targets[a]  = encode_box_delta(anchor a, gt g) for positives, 0 otherwise   f32 [4]
//   bbox_weights[a]  = 1 (all four) for positives, 0 otherwise                       f32 [4]
//
// Layout (letters used in this file): anchors [A, 4], gt_boxes [G, 4], crowd_boxes [C, 4]
// (x1, y1, x2, y2 f32), inside_flags [A] u8, gt_labels [G] i64 or i32. The IoU matrix [G, A]
// (gt-major, mmdet's layout) is computed once and kept, so the tie test of step 4 compares stored
// values; anchors not inside are set to -inf in it, so they are never a maximum nor tied with one.
// Passes run over chunks of 8192 anchors on OpenMP threads with gts in the outer loop (the inner
// loops over anchors vectorise); each gt's maximum is reduced per chunk and the chunks combined in
// order (max is exact anyway), so the result never depends on the thread count. Cost for 200k
// anchors and 20 gts: ~7 ms on one core.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "detection/box_coder.h"

namespace ghm::detection {

enum class LowQualityMatch { Off, On };                  // mmdet match_low_quality
enum class GtMaxAssign { FirstAnchor, AllTiedAnchors };  // mmdet gt_max_assign_all (false / true)

struct AssignerConfig {
  float pos_iou_thr = 0.5f;
  float neg_iou_thr = 0.4f;
  float min_pos_iou = 0.0f;
  LowQualityMatch low_quality = LowQualityMatch::On;
  GtMaxAssign gt_max_assign = GtMaxAssign::AllTiedAnchors;
  float ignore_iof_thr = -1.0f;  // <= 0: crowd boxes are not used (the RetinaNet/GHM config)
};

constexpr std::int64_t kNegativeAnchor = -1;
constexpr std::int64_t kIgnoredAnchor = -2;

struct AssignResult {
  Tensor gt_index;           // [A] i64
  Tensor max_iou;            // [A] f32
  std::int64_t num_pos = 0;  // anchors with gt_index >= 0
  std::int64_t num_neg = 0;  // anchors with gt_index == kNegativeAnchor
};

// crowd_boxes may be undefined (none) or [0, 4]; inside_flags may be undefined (all inside).
AssignResult assign_anchors_max_iou(const Tensor& anchors, const Tensor& gt_boxes, const Tensor& crowd_boxes,
                                    const Tensor& inside_flags, const AssignerConfig& config = {});

struct AnchorTargets {
  Tensor labels;         // [A] i64
  Tensor label_weights;  // [A] f32
  Tensor bbox_targets;   // [A, 4] f32
  Tensor bbox_weights;   // [A, 4] f32
  std::int64_t num_pos = 0;
  std::int64_t num_neg = 0;
};

// gt_labels [G] in [0, num_classes).
AnchorTargets anchor_targets(const Tensor& anchors, const AssignResult& assign, const Tensor& gt_boxes,
                             const Tensor& gt_labels, std::int64_t num_classes, const BoxCoderParams& coder = {});

}  // namespace ghm::detection
