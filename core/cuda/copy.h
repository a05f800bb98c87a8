// Byte copies and zero fills across devices, for Tensor::to(Device), clone() and zeros() on CUDA
// tensors. Every call is synchronous with respect to the host (cudaMemcpy / cudaMemset on the
// legacy default stream), so a host buffer may be reused as soon as it returns.
//
// Pure C++ declarations; defined in copy.cpp, which is built only with CUDA.
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace ghm::cuda {

// dst (on dst_device) <- src (on src_device), `bytes` bytes; either side may be the CPU.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes);

// dst[0, bytes) = 0 on `device` (a CUDA device).
void zero_bytes(void* dst, Device device, std::size_t bytes);

}  // namespace ghm::cuda
