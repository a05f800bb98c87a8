// CUDA kernels of RoIAlign: the twins of core/cpu/roi_align_cpu.h (same names, same arguments,
// the same numbers bit for bit: both compute the geometry of core/ops/roi_align_math.h without
// fused multiply-add, and add in the same order). Pointers are device memory of the current
// device; the legacy default stream. Letters: N images, C channels, H x W map, K boxes, PH x PW cells.
//
// Pure C++ declarations; defined in roi_align_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/ops/roi_align.h"

namespace ghm::cuda {

// x: [N, C, H, W], rois: [K, 5], y: [K, C, PH, PW]; a box whose batch index is not one of x's
// pools zeros
void roi_align_forward(const float* x, const float* rois, float* y, std::int64_t n, std::int64_t c, std::int64_t h,
                       std::int64_t w, std::int64_t k, const RoiAlignParams& p);
// dy: [K, C, PH, PW], rois: [K, 5], dx: [N, C, H, W] (all written)
void roi_align_backward(const float* dy, const float* rois, float* dx, std::int64_t n, std::int64_t c, std::int64_t h,
                        std::int64_t w, std::int64_t k, const RoiAlignParams& p);

}  // namespace ghm::cuda
