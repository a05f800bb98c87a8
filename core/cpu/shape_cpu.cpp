// Data movement kernels: permute, slice copies, index_select and gather with their scatter-add
// backwards. Scatter-adds parallelise over the outer dimension only, so each output element is
// written by one thread, in index order: deterministic.
#include "core/cpu/shape_cpu.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "core/cpu/parallel.h"
#include "core/ops/permute_plan.h"

namespace ghm::cpu {

namespace {

// Source offset of the first element of output "row block" `outer` over dims [0, ndim - 2).
std::int64_t outer_offset(const PermutePlan& p, std::int64_t outer, int outer_dims) {
  std::int64_t off = 0;
  for (int d = outer_dims - 1; d >= 0; --d) {
    const auto k = static_cast<std::size_t>(d);
    off += (outer % p.size[k]) * p.stride[k];
    outer /= p.size[k];
  }
  return off;
}

// out[o, r, c] = x[offset(o) + r * stride_r + c * stride_c] over the last two planned dims, in
// tiles of 32 x 32 so that both the reads and the writes stay within a few cache lines; when the
// source rows are contiguous (stride_c = 1) a tile is whole rows, copied with memcpy.
template <class T>
void permute_tiled(const T* x, T* out, const PermutePlan& p) {
  const int m = p.ndim;
  const std::int64_t rows = m >= 2 ? p.size[static_cast<std::size_t>(m - 2)] : 1;
  const std::int64_t cols = p.size[static_cast<std::size_t>(m - 1)];
  const std::int64_t sr = m >= 2 ? p.stride[static_cast<std::size_t>(m - 2)] : 0;
  const std::int64_t sc = p.stride[static_cast<std::size_t>(m - 1)];
  const int outer_dims = std::max(m - 2, 0);
  std::int64_t outer = 1;
  for (int d = 0; d < outer_dims; ++d) outer *= p.size[static_cast<std::size_t>(d)];
  // Contiguous source rows: tiles of whole rows, or of row pieces for long rows (so that even a
  // plain copy is split across threads).
  const std::int64_t tile_c = sc == 1 ? std::min<std::int64_t>(cols, kElementwiseGrain) : 32;
  const std::int64_t tile_r = sc == 1 ? std::max<std::int64_t>(1, 4096 / tile_c) : 32;
  const std::int64_t row_tiles = (rows + tile_r - 1) / tile_r;
  const std::int64_t col_tiles = (cols + tile_c - 1) / tile_c;
  const std::int64_t tiles = outer * row_tiles * col_tiles;
  const std::int64_t tile_elements = std::min(tile_r, rows) * std::min(tile_c, cols);  // thin shapes: small tiles
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / tile_elements);
  parallel_for(tiles, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) {
      const std::int64_t o = t / (row_tiles * col_tiles);
      const std::int64_t r0 = (t / col_tiles) % row_tiles * tile_r, c0 = t % col_tiles * tile_c;
      const std::int64_t r1 = std::min(r0 + tile_r, rows), c1 = std::min(c0 + tile_c, cols);
      const T* src = x + outer_offset(p, o, outer_dims);
      T* dst = out + o * rows * cols;
      if (sc == 1) {
        for (std::int64_t r = r0; r < r1; ++r) std::memcpy(dst + r * cols + c0, src + r * sr + c0, static_cast<std::size_t>(c1 - c0) * sizeof(T));
      } else {
        for (std::int64_t r = r0; r < r1; ++r)
          for (std::int64_t c = c0; c < c1; ++c) dst[r * cols + c] = src[r * sr + c * sc];
      }
    }
  });
}

template <class T>
void permute_typed(const void* x, void* out, const Shape& in_shape, const int* order) {
  const PermutePlan p = plan_permute(in_shape, order);
  const auto* src = static_cast<const T*>(x);
  auto* dst = static_cast<T*>(out);
  if (p.ndim == 0) {  // a single element
    dst[0] = src[0];
    return;
  }
  permute_tiled(src, dst, p);
}

}  // namespace

void permute_copy(const void* x, void* out, const Shape& in_shape, const int* order, std::size_t elem_bytes) {
  if (in_shape.numel() == 0) return;
  switch (elem_bytes) {
    case 1: return permute_typed<std::uint8_t>(x, out, in_shape, order);
    case 2: return permute_typed<std::uint16_t>(x, out, in_shape, order);
    case 4: return permute_typed<std::uint32_t>(x, out, in_shape, order);
    case 8: return permute_typed<std::uint64_t>(x, out, in_shape, order);
    default: GHM_FAIL("permute_copy: unsupported element size ", elem_bytes);
  }
}

void copy_slice(const void* src, void* dst, std::int64_t outer, std::int64_t inner, std::int64_t len_src,
                std::int64_t src_start, std::int64_t len_dst, std::int64_t dst_start, std::int64_t len,
                std::size_t elem_bytes) {
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  const std::size_t row = static_cast<std::size_t>(len * inner) * elem_bytes;
  if (row == 0) return;
  parallel_for(outer, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(len * inner, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t o = begin; o < end; ++o)
                   std::memcpy(d + static_cast<std::size_t>((o * len_dst + dst_start) * inner) * elem_bytes,
                               s + static_cast<std::size_t>((o * len_src + src_start) * inner) * elem_bytes, row);
               });
}

void index_select_forward(const float* x, const std::int64_t* index, float* out, std::int64_t outer, std::int64_t n_src,
                          std::int64_t n_idx, std::int64_t inner) {
  parallel_for(outer * n_idx, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(inner, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t t = begin; t < end; ++t) {
                   const std::int64_t o = t / n_idx, i = t % n_idx;
                   std::memcpy(out + t * inner, x + (o * n_src + index[i]) * inner,
                               static_cast<std::size_t>(inner) * sizeof(float));
                 }
               });
}

void index_select_backward(const float* g, const std::int64_t* index, float* dx, std::int64_t outer, std::int64_t n_src,
                           std::int64_t n_idx, std::int64_t inner) {
  std::memset(dx, 0, static_cast<std::size_t>(outer * n_src * inner) * sizeof(float));
  parallel_for(outer, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t o = begin; o < end; ++o)
      for (std::int64_t i = 0; i < n_idx; ++i) {
        float* dst = dx + (o * n_src + index[i]) * inner;
        const float* src = g + (o * n_idx + i) * inner;
#pragma omp simd
        for (std::int64_t k = 0; k < inner; ++k) dst[k] += src[k];
      }
  });
}

namespace {
// Calls body(t, src) for every element t of index_shape, src being x's offset for that element.
template <class F>
void for_each_gather(const Shape& x_shape, const std::int64_t* index, const Shape& index_shape, int dim, F&& body) {
  const int n = index_shape.ndim();
  const std::int64_t total = index_shape.numel();
  std::array<std::int64_t, kMaxDims> idx{};
  for (std::int64_t t = 0; t < total; ++t) {
    std::int64_t src = 0;
    for (int d = 0; d < n; ++d)
      src += (d == dim ? index[t] : idx[static_cast<std::size_t>(d)]) * x_shape.stride(d);
    body(t, src);
    for (int d = n - 1; d >= 0; --d) {
      if (++idx[static_cast<std::size_t>(d)] < index_shape[d]) break;
      idx[static_cast<std::size_t>(d)] = 0;
    }
  }
}
}  // namespace

void gather_forward(const float* x, const Shape& x_shape, const std::int64_t* index, const Shape& index_shape, int dim,
                    float* out) {
  for_each_gather(x_shape, index, index_shape, dim, [&](std::int64_t t, std::int64_t src) { out[t] = x[src]; });
}

void gather_backward(const float* g, const std::int64_t* index, const Shape& index_shape, int dim, float* dx,
                     const Shape& x_shape) {
  std::memset(dx, 0, static_cast<std::size_t>(x_shape.numel()) * sizeof(float));
  for_each_gather(x_shape, index, index_shape, dim, [&](std::int64_t t, std::int64_t src) { dx[src] += g[t]; });
}

}  // namespace ghm::cpu
