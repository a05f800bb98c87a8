// The launch shape shared by the elementwise-style kernels: 256-thread blocks over a grid-stride
// loop, with enough blocks to fill the device and no more than a grid can hold.
//
//   for (std::int64_t i = first_index(); i < n; i += grid_stride()) ...
//   kernel<<<blocks_for(n), kThreads>>>(...);
//
// Only for CUDA translation units (.cu).
#pragma once

#include <algorithm>
#include <cstdint>

namespace ghm::cuda {

constexpr int kThreads = 256;

inline int blocks_for(std::int64_t n) {
  return static_cast<int>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65535 * 8));
}

__device__ __forceinline__ std::int64_t first_index() {
  return blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
}

__device__ __forceinline__ std::int64_t grid_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

}  // namespace ghm::cuda
