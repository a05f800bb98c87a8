// float32 <-> bfloat16 / IEEE half on CUDA, for the low-precision convolutions of conv_cudnn.cpp
// (core/precision.h). Round to nearest, ties to even (__float2bfloat16_rn, __float2half_rn): the
// same bits as core/bfloat16.h on the CPU. Half overflows to inf above 65504, as fp16 does.
// Pointers are device memory of the current device; the legacy default stream.
//
// Pure C++ declarations; defined in half_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/precision.h"

namespace ghm::cuda {

// Bytes per element of `p` on the device: 2 for bf16 and fp16, 4 for fp32.
int precision_bytes(Precision p);

// dst[i] = round(src[i]) in `p` (bf16 or fp16).          src: [n] float32, dst: [n] 16-bit
void float_to_low(const float* src, void* dst, std::int64_t n, Precision p);
// dst[i] = src[i] widened to float32 (exact).             src: [n] 16-bit, dst: [n] float32
void low_to_float(const void* src, float* dst, std::int64_t n, Precision p);

}  // namespace ghm::cuda
