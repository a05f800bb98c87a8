// CPU kernels behind the shape ops. Element size is given in bytes so that one kernel moves any
// dtype; index tensors arrive converted to i64.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/shape.h"

namespace ghm::cpu {

// out = x permuted.                 x: in_shape, out: in_shape permuted by order
void permute_copy(const void* x, void* out, const Shape& in_shape, const int* order, std::size_t elem_bytes);
// Copies a [outer, len_src, inner] block's slice [start, start+len) into [outer, len_dst, inner] at dst_start.
void copy_slice(const void* src, void* dst, std::int64_t outer, std::int64_t inner, std::int64_t len_src,
                std::int64_t src_start, std::int64_t len_dst, std::int64_t dst_start, std::int64_t len,
                std::size_t elem_bytes);
// out[o, i, k] = x[o, index[i], k].          x: [outer, n_src, inner], index: [n_idx], out: [outer, n_idx, inner]
void index_select_forward(const float* x, const std::int64_t* index, float* out, std::int64_t outer, std::int64_t n_src,
                          std::int64_t n_idx, std::int64_t inner);
// dx[o, index[i], k] += g[o, i, k] (dx zeroed first; serial over i so repeats add in a fixed order)
void index_select_backward(const float* g, const std::int64_t* index, float* dx, std::int64_t outer, std::int64_t n_src,
                           std::int64_t n_idx, std::int64_t inner);
// out[m] = x[m with m[dim] replaced by index[m]] for every multi-index m of index_shape; index_shape
// may be smaller than x_shape in every dimension (as PyTorch's gather).     index, out: index_shape
void gather_forward(const float* x, const Shape& x_shape, const std::int64_t* index, const Shape& index_shape, int dim,
                    float* out);
// dx[m with m[dim] = index[m]] += g[m] (dx zeroed here; serial, so repeated targets add in order)
void gather_backward(const float* g, const std::int64_t* index, const Shape& index_shape, int dim, float* dx,
                     const Shape& x_shape);

}  // namespace ghm::cpu
