// CPU kernels for max pooling and nearest resizing. Every kernel works on P = N*C planes.
#pragma once

#include <cstdint>

#include "core/ops/pool.h"

namespace ghm::cpu {

// y: [P, HO, WO] maxima of x: [P, H, W]; argmax: [P, HO, WO] flat index h*W + w of each maximum
void max_pool2d_forward(const float* x, float* y, std::int32_t* argmax, std::int64_t planes, std::int64_t h,
                        std::int64_t w, std::int64_t ho, std::int64_t wo, const Pool2dParams& p);
// dx[p, argmax] += dy (dx zeroed here).     dy, argmax: [P, HO, WO], dx: [P, H, W]
void max_pool2d_backward(const float* dy, const std::int32_t* argmax, float* dx, std::int64_t planes, std::int64_t h,
                         std::int64_t w, std::int64_t ho, std::int64_t wo);
// The source row/column of every output row/column under PyTorch's 'nearest' rule.
std::int64_t nearest_source(std::int64_t dst, std::int64_t in, std::int64_t out);
// y[p, i, j] = x[p, src_h[i], src_w[j]].    x: [P, H, W], y: [P, HO, WO]
void upsample_nearest_forward(const float* x, float* y, std::int64_t planes, std::int64_t h, std::int64_t w,
                              std::int64_t ho, std::int64_t wo);
// dx[p, src_h[i], src_w[j]] += dy[p, i, j] (dx zeroed here)
void upsample_nearest_backward(const float* dy, float* dx, std::int64_t planes, std::int64_t h, std::int64_t w,
                               std::int64_t ho, std::int64_t wo);

}  // namespace ghm::cpu
