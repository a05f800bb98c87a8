// The device side of the caching allocator (core/cuda/caching_allocator.h): cudaMalloc and
// cudaFree on one device, and one allocator per device for the whole process.
//
//   void* p = ghm::cuda::device_allocator(0).allocate(bytes, stream);
//   ...
//   ghm::cuda::device_allocator(0).free(p);
//
// Pure C++ declarations; defined in device_memory.cpp, which is built only with CUDA.
#pragma once

#include "core/cuda/caching_allocator.h"

namespace ghm::cuda {

// The allocator of device `device` (created on first use, lives until the process ends).
CachingAllocator& device_allocator(int device);

}  // namespace ghm::cuda
