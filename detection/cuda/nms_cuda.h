// CUDA kernels behind detection::nms and detection::batched_nms: the twins of the CPU functions
// in detection/nms.h (same names, same rule, the same kept indices in the same order). Pointers
// are device memory of the current device, `device`; kernels run on the legacy default stream.
//
// Pure C++ declarations; defined in nms_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace ghm::detection::cuda {

// Greedy NMS. Returns the kept indices [K] i64 on cuda:`device`, score-descending, ties by index.
// Throws "nms: scores[i] is NaN" (the first such i) when a score is NaN.
Tensor nms(const float* boxes,   // [N, 4]
           const float* scores,  // [N]
           std::int64_t n, float iou_threshold, int device);

// Class-wise NMS: boxes of different classes never suppress each other; the kept indices of all
// classes [K] i64 on cuda:`device`, in global score order (ties by index).
Tensor batched_nms(const float* boxes,               // [N, 4]
                   const float* scores,              // [N]
                   const std::int64_t* class_ids,    // [N]
                   std::int64_t n, float iou_threshold, int device);
Tensor batched_nms(const float* boxes,               // [N, 4]
                   const float* scores,              // [N]
                   const std::int32_t* class_ids,    // [N]
                   std::int64_t n, float iou_threshold, int device);

}  // namespace ghm::detection::cuda
