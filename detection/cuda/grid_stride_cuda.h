// The one-thread-per-element launch of core/cuda/launch.h (256-thread blocks over a grid-stride
// loop), named in the detection kernels' namespace, with the launch checks:
//
//   for (std::int64_t i = first_index(); i < n; i += grid_stride()) ...
//   kernel<<<blocks_for(n), kThreads>>>(...);  GHM_CUDA_CHECK_LAUNCH();
//
// Only for CUDA translation units (.cu).
#pragma once

#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"

namespace ghm::detection::cuda {

using ghm::cuda::blocks_for;
using ghm::cuda::first_index;
using ghm::cuda::grid_stride;
using ghm::cuda::kThreads;

}  // namespace ghm::detection::cuda
