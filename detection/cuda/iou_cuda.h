// CUDA kernel behind detection::box_overlaps: the twin of detection::cpu::box_overlaps (same name,
// same arguments, same per-pair formula: box_overlap in detection/iou.h). Pointers are device
// memory of the current device; the kernel runs on the legacy default stream. Also the boundary
// check that the CUDA paths of the detection ops (iou, box coder, NMS) share.
//
// Pure C++ declarations; defined in iou_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "detection/iou.h"  // OverlapMode

namespace ghm::detection::cuda {

// overlaps[i, j] = box_overlap(boxes1[i], boxes2[j], mode), bit for bit the CPU's value.
void box_overlaps(const float* boxes1,  // [N, 4]
                  std::int64_t n,
                  const float* boxes2,  // [M, 4]
                  std::int64_t m, OverlapMode mode,
                  float* overlaps);  // [N, M]

// Checks that `boxes` is a defined f32 tensor of shape [*, 4] on `device`; errors name `op` and `arg`.
void check_boxes_on(const Tensor& boxes, Device device, const char* op, const char* arg);

}  // namespace ghm::detection::cuda
