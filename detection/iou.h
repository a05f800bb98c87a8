// Overlaps between two sets of axis-aligned boxes, as mmdetection v2's `bbox_overlaps`
// (mmdet/core/bbox/iou_calculators/iou2d_calculator.py) computes them.
//
// Boxes are (x1, y1, x2, y2) in continuous pixel coordinates (no "+1" anywhere):
//
//   area(b)   = (x2 - x1) * (y2 - y1)
//   inter     = max(0, min(a.x2, b.x2) - max(a.x1, b.x1)) * max(0, min(a.y2, b.y2) - max(a.y1, b.y1))
//   IoU(a, b) = inter / max(area(a) + area(b) - inter, eps)
//   IoF(a, b) = inter / max(area(a), eps)        intersection over the FIRST box's area
//   eps       = 1e-6 (float32)
//
// The eps keeps zero-size boxes finite: a box of zero area has IoU 0 with everything, itself
// included. All arithmetic is float32 in the order written, which is the reference's order, so
// results agree with it to the last bit up to FMA contraction (tests allow a few ulp).
// IoU is symmetric bit for bit (float + is commutative), so [N, M] and the transposed [M, N]
// computations agree exactly. IoF is the crowd test of the assigner: anchors first, crowd boxes
// second (mmdet's `ignore_wrt_candidates=True`).
//
// Greedy NMS (detection/nms.h) uses torchvision's IoU instead, which has no eps; see there.
//
// Layout (letters used in this file): boxes1 [N, 4], boxes2 [M, 4], overlaps [N, M], all row-major
// float32. The CPU kernel splits the N*M outputs into contiguous chunks over OpenMP threads; each
// output is written once, so the result does not depend on the thread count.
#pragma once

#include <cstdint>

#include "core/ops/elementwise_math.h"  // GHM_HD
#include "core/tensor.h"

namespace ghm::detection {

// An image's extent in pixels: boxes are clipped to [0, width] x [0, height].
struct ImageSize {
  std::int64_t height = 0;
  std::int64_t width = 0;
};

enum class OverlapMode { IoU, IoF };

constexpr float kOverlapEps = 1e-6f;

// ---- per-pair math shared by the CPU and CUDA kernels ---------------------------------------------
// Plain comparisons rather than fmaxf/fminf, so that loops over boxes vectorise (maxps/minps).
GHM_HD float max_of(float a, float b) { return a > b ? a : b; }
GHM_HD float min_of(float a, float b) { return a < b ? a : b; }

GHM_HD float box_area(const float* b) { return (b[2] - b[0]) * (b[3] - b[1]); }

GHM_HD float box_intersection(const float* a, const float* b) {
  const float w = max_of(min_of(a[2], b[2]) - max_of(a[0], b[0]), 0.f);
  const float h = max_of(min_of(a[3], b[3]) - max_of(a[1], b[1]), 0.f);
  return w * h;
}

// area_a, area_b: box_area of a and b (precomputed by the caller, as the reference does).
GHM_HD float box_overlap(const float* a, float area_a, const float* b, float area_b, OverlapMode mode) {
  const float inter = box_intersection(a, b);
  const float denom = mode == OverlapMode::IoU ? area_a + area_b - inter : area_a;
  return inter / max_of(denom, kOverlapEps);
}

// ---- Tensor API ----------------------------------------------------------------------------------
// boxes1 [N, 4] f32, boxes2 [M, 4] f32, both on the CPU or both on one GPU -> overlaps [N, M] f32 on
// that device. N or M may be 0.
Tensor box_overlaps(const Tensor& boxes1, const Tensor& boxes2, OverlapMode mode = OverlapMode::IoU);
inline Tensor box_iou(const Tensor& boxes1, const Tensor& boxes2) {
  return box_overlaps(boxes1, boxes2, OverlapMode::IoU);
}
inline Tensor box_iof(const Tensor& boxes1, const Tensor& boxes2) {
  return box_overlaps(boxes1, boxes2, OverlapMode::IoF);
}

// Checks that `boxes` is a defined f32 CPU tensor of shape [*, 4] (the CPU kernels' inputs); errors name
// `op` and `arg`. CUDA inputs are checked by cuda::check_boxes_on (detection/cuda/iou_cuda.h).
void check_boxes(const Tensor& boxes, const char* op, const char* arg);

namespace cpu {
// The kernel behind box_overlaps (no validation).
void box_overlaps(const float* boxes1,  // [N, 4]
                  std::int64_t n,
                  const float* boxes2,  // [M, 4]
                  std::int64_t m, OverlapMode mode,
                  float* overlaps);  // [N, M]
}  // namespace cpu

}  // namespace ghm::detection
