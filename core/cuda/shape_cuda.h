// CUDA kernels behind the shape ops: the twins of core/cpu/shape_cpu.h (same names, same
// arguments; pointers are device memory of the current device; the legacy default stream).
//
// Pure C++ declarations; defined in shape_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/cuda/slice_copy_plan.h"
#include "core/shape.h"

namespace ghm::cuda {

// out = x permuted.                 x: in_shape, out: in_shape permuted by order
void permute_copy(const void* x, void* out, const Shape& in_shape, const int* order, std::size_t elem_bytes);
// Copies a [outer, len_src, inner] block's slice [start, start+len) into [outer, len_dst, inner] at dst_start.
void copy_slice(const void* src, void* dst, std::int64_t outer, std::int64_t inner, std::int64_t len_src,
                std::int64_t src_start, std::int64_t len_dst, std::int64_t dst_start, std::int64_t len,
                std::size_t elem_bytes);
// The copy of a plan_slice_copy plan (copy_slice plans with the current device's maximum pitch;
// the GPU tests give small limits to run every method on small buffers).
void copy_slice_planned(const void* src, void* dst, const SliceCopyPlan& plan);

}  // namespace ghm::cuda
