// CUDA kernels behind index_select and gather: the twins of the ones in core/cpu/shape_cpu.h (same
// names, same arguments, same results bit for bit; pointers are device memory of the current
// device; the legacy default stream). Index tensors arrive as i64, like on the CPU: an i32 index
// is widened on the device first (widen_index), and every index is range-checked on the device
// before use (check_index_range).
//
// The backward scatter-adds use no atomics: the positions are sorted by destination (a stable
// radix sort), and each destination adds its run in position order, the CPU's order.
//
// Pure C++ declarations; defined in index_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/shape.h"

namespace ghm::cuda {

// out[i] = index[i].                                                     index, out: [n]
void widen_index(const std::int32_t* index, std::int64_t* out, std::int64_t n);
// Throws "<op>: index V at position P is out of range [0, limit)" naming the first such entry.
// Waits for the device (the verdict is read back on the host).           index: [n]
void check_index_range(const std::int64_t* index, std::int64_t n, std::int64_t limit, const char* op);

// out[o, i, k] = x[o, index[i], k].          x: [outer, n_src, inner], index: [n_idx], out: [outer, n_idx, inner]
void index_select_forward(const float* x, const std::int64_t* index, float* out, std::int64_t outer, std::int64_t n_src,
                          std::int64_t n_idx, std::int64_t inner);
// dx[o, j, k] = sum of g[o, i, k] over index[i] = j, in increasing i (dx fully written).
//                                            g: [outer, n_idx, inner], index: [n_idx], dx: [outer, n_src, inner]
void index_select_backward(const float* g, const std::int64_t* index, float* dx, std::int64_t outer, std::int64_t n_src,
                           std::int64_t n_idx, std::int64_t inner);
// out[m] = x[m with m[dim] replaced by index[m]] for every multi-index m of index_shape (which may
// be smaller than x_shape in every dimension).                          index, out: index_shape
void gather_forward(const float* x, const Shape& x_shape, const std::int64_t* index, const Shape& index_shape, int dim,
                    float* out);
// dx[e] = sum of g[m] over the m that gather from e, in increasing (row-major) m (dx fully written).
//                                            g, index: index_shape, dx: x_shape
void gather_backward(const float* g, const std::int64_t* index, const Shape& index_shape, int dim, float* dx,
                     const Shape& x_shape);

}  // namespace ghm::cuda
