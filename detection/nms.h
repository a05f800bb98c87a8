// Greedy non-maximum suppression, as torchvision.ops.nms (csrc/ops/cpu/nms_kernel.cpp) and
// torchvision.ops.batched_nms compute it.
//
//   order = box indices by score, descending; equal scores keep index order (a stable sort)
//   for i in order, unless suppressed: keep i, then suppress every later j with IoU(i, j) > thr
//   IoU(i, j) = inter / (area_i + area_j - inter)        areas (x2 - x1) * (y2 - y1), no "+1"
//
// This IoU has no eps (unlike detection/iou.h, which follows mmdet's bbox_overlaps): two zero-area
// boxes give 0 / 0 = NaN, which is not > thr, so zero-size boxes never suppress each other, exactly
// as in torchvision. The kept indices come back in `order` (score-descending, ties by index).
//
// Batched (class-wise) NMS: boxes of different classes never suppress each other. The result is
// the union of the per-class keeps, in the same global score-then-index order. torchvision gets
// this by shifting each class's boxes by class * (max coordinate + 1) and running one NMS; we run
// the classes separately, which is the same rule without the rounding of the shifted coordinates.
//
// Layout (letters used in this file): boxes [N, 4] (x1, y1, x2, y2) f32, scores [N] f32, class ids
// [N] i64 or i32 (any values; equal ids form a class); kept indices [K] i64. Single-threaded: each
// greedy step depends on the previous ones, and after score thresholding and top-k the work is a
// fraction of a millisecond. The inner loop over later boxes runs on gathered columns and vectorises.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ghm::detection {

// boxes [N, 4], scores [N] (no NaN) -> kept indices [K] i64, on the inputs' device (CPU or one GPU).
// N may be 0.
Tensor nms(const Tensor& boxes, const Tensor& scores, float iou_threshold);

// boxes [N, 4], scores [N], class_ids [N] -> kept indices [K] i64 over all classes.
Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& class_ids, float iou_threshold);

namespace cpu {
// Greedy NMS over the boxes listed in `order` [n], taken in that order (the caller sorts); appends
// the kept indices (values from `order`) to `keep`.
void nms_ordered(const float* boxes,         // [N, 4]
                 const std::int64_t* order,  // [n]
                 std::int64_t n, float iou_threshold, std::vector<std::int64_t>& keep);
}  // namespace cpu

}  // namespace ghm::detection
