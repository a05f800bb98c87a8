// Data movement kernels: permute, slice copies, index_select and gather with their scatter-add
// backwards. Scatter-adds parallelise over the outer dimension only, so each output element is
// written by one thread, in index order: deterministic.
#include "core/cpu/shape_cpu.h"

#include <cstring>

#include "core/cpu/parallel.h"

namespace ghm::cpu {

void permute_copy(const void* x, void* out, const Shape& in_shape, const int* order, std::size_t elem_bytes) {
  const int n = in_shape.ndim();
  const std::int64_t total = in_shape.numel();
  if (total == 0) return;
  std::array<std::int64_t, kMaxDims> out_size{}, src_stride{};
  for (int i = 0; i < n; ++i) {
    out_size[static_cast<std::size_t>(i)] = in_shape[order[i]];
    src_stride[static_cast<std::size_t>(i)] = in_shape.stride(order[i]);
  }
  const auto* src = static_cast<const unsigned char*>(x);
  auto* dst = static_cast<unsigned char*>(out);
  parallel_for(total, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    std::array<std::int64_t, kMaxDims> idx{};
    std::int64_t rem = begin;
    for (int d = n - 1; d >= 0; --d) {
      idx[static_cast<std::size_t>(d)] = rem % out_size[static_cast<std::size_t>(d)];
      rem /= out_size[static_cast<std::size_t>(d)];
    }
    for (std::int64_t o = begin; o < end; ++o) {
      std::int64_t s = 0;
      for (int d = 0; d < n; ++d) s += idx[static_cast<std::size_t>(d)] * src_stride[static_cast<std::size_t>(d)];
      std::memcpy(dst + static_cast<std::size_t>(o) * elem_bytes, src + static_cast<std::size_t>(s) * elem_bytes, elem_bytes);
      for (int d = n - 1; d >= 0; --d) {
        if (++idx[static_cast<std::size_t>(d)] < out_size[static_cast<std::size_t>(d)]) break;
        idx[static_cast<std::size_t>(d)] = 0;
      }
    }
  });
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
