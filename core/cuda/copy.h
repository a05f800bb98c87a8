// Byte copies and zero fills across devices, for Tensor::to(Device), clone() and zeros() on CUDA
// tensors, all on the legacy default stream (so ordered with every kernel). A copy from or to
// host memory returns once the host side is done with it (cudaMemcpy), so a host buffer may be
// reused at once; device-to-device copies and fills may still be running when the call returns.
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
