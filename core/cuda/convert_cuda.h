// CUDA twin of Tensor::to(DType) on the CPU: every element converted with static_cast, as the CPU
// loop in core/tensor.cpp does (float -> integer truncates toward zero; integer -> float rounds to
// nearest). Pointers are device memory of the current device; the legacy default stream.
//
// Pure C++ declarations; defined in convert_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace ghm::cuda {

// dst[i] = static_cast<to>(src[i]).       src: [n] of `from`, dst: [n] of `to`
void convert(const void* src, DType from, void* dst, DType to, std::int64_t n);

}  // namespace ghm::cuda
