// CUDA kernels for max pooling and nearest resizing: the twins of core/cpu/pool_cpu.h (same names,
// same arguments, same results bit for bit; pointers are device memory of the current device;
// the legacy default stream). Letters: P = N*C planes, H x W input, HO x WO output.
//
// The backward passes gather instead of scattering (no atomics), so each input gradient is a sum
// in a fixed order; max_pool2d_backward therefore also needs the pooling parameters, to find the
// windows that contain an input element.
//
// Pure C++ declarations; defined in pool_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/ops/pool.h"

namespace ghm::cuda {

// y: [P, HO, WO] maxima of x: [P, H, W]; argmax: [P, HO, WO] flat index h*W + w of each maximum
void max_pool2d_forward(const float* x, float* y, std::int32_t* argmax, std::int64_t planes, std::int64_t h,
                        std::int64_t w, std::int64_t ho, std::int64_t wo, const Pool2dParams& p);
// dx[p, i] = sum of dy[p, o] over the outputs o (row-major order) whose window holds i and whose
// argmax is i.                                  dy, argmax: [P, HO, WO], dx: [P, H, W] (all written)
void max_pool2d_backward(const float* dy, const std::int32_t* argmax, float* dx, std::int64_t planes, std::int64_t h,
                         std::int64_t w, std::int64_t ho, std::int64_t wo, const Pool2dParams& p);
// y[p, i, j] = x[p, src_h(i), src_w(j)] under cpu::nearest_source.    x: [P, H, W], y: [P, HO, WO]
void upsample_nearest_forward(const float* x, float* y, std::int64_t planes, std::int64_t h, std::int64_t w,
                              std::int64_t ho, std::int64_t wo);
// dx[p, a, b] = sum of dy[p, i, j] over src_h(i) = a, src_w(j) = b, row-major order.
//                                                               dy: [P, HO, WO], dx: [P, H, W] (all written)
void upsample_nearest_backward(const float* dy, float* dx, std::int64_t planes, std::int64_t h, std::int64_t w,
                               std::int64_t ho, std::int64_t wo);

}  // namespace ghm::cuda
