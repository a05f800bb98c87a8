// CPU kernels of RoIAlign (core/ops/roi_align.h). Letters: N images, C channels, H x W feature map,
// K boxes, PH x PW output cells.
#pragma once

#include <cstdint>

#include "core/ops/roi_align.h"

namespace ghm::cpu {

// y[k, c, ph, pw]: the mean of the bilinear samples of bin (ph, pw) of box k in x[b_k, c].
// A box whose batch index is not one of x's pools zeros (and gets no gradient below).
// x: [N, C, H, W], rois: [K, 5], y: [K, C, PH, PW]
void roi_align_forward(const float* x, const float* rois, float* y, std::int64_t n, std::int64_t c, std::int64_t h,
                       std::int64_t w, std::int64_t k, const RoiAlignParams& p);
// dx (zeroed here) = the samples' upstream gradients spread with their bilinear weights, added box by
// box, bin by bin, sample by sample (torchvision's order).
// dy: [K, C, PH, PW], rois: [K, 5], dx: [N, C, H, W]
void roi_align_backward(const float* dy, const float* rois, float* dx, std::int64_t n, std::int64_t c, std::int64_t h,
                        std::int64_t w, std::int64_t k, const RoiAlignParams& p);

}  // namespace ghm::cpu
