// Shape ops: forward and backward side by side.
//
//   permute(order):      dx = permute(g, inverse(order))
//   narrow(d, s, l):     dx = zeros(x) with g copied into [s, s+l) along d
//   concat(d):           dx_i = narrow(g, d, offset_i, size_i)
//   index_select(d, I):  dx = zeros(x); dx[.., I[i], ..] += g[.., i, ..]
//   gather(d, I):        dx = zeros(x); dx[.., I[..], ..] += g[..]
//
// Along a dimension `dim`, a contiguous tensor is a [outer, extent, inner] block, which is how
// every kernel here sees it.
#include "core/ops/shape_ops.h"

#include <cstring>
#include <numeric>

#include "core/autograd.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/index_cuda.h"
#include "core/cuda/shape_cuda.h"
#endif
#include "core/cpu/shape_cpu.h"

namespace ghm {
namespace {

// The copy kernels of the tensors' device (CPU, or the CUDA twins with the same names).
void permute_copy(const Tensor& x, Tensor& out, const int* order) {
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::permute_copy(x.raw_device_data(), out.raw_device_data(), x.shape(), order, dtype_size(x.dtype()));
    return;
  }
#endif
  cpu::permute_copy(x.raw_data(), out.raw_data(), x.shape(), order, dtype_size(x.dtype()));
}

void copy_slice(const Tensor& src, Tensor& dst, std::int64_t outer, std::int64_t inner, std::int64_t len_src,
                std::int64_t src_start, std::int64_t len_dst, std::int64_t dst_start, std::int64_t len) {
#if GHM_WITH_CUDA
  if (src.device().is_cuda()) {
    const cuda::DeviceGuard guard(src.device().index);
    cuda::copy_slice(src.raw_device_data(), dst.raw_device_data(), outer, inner, len_src, src_start, len_dst, dst_start,
                     len, dtype_size(src.dtype()));
    return;
  }
#endif
  cpu::copy_slice(src.raw_data(), dst.raw_data(), outer, inner, len_src, src_start, len_dst, dst_start, len,
                  dtype_size(src.dtype()));
}

// index_select and gather kernels of the tensors' device; idx is i64 on that device.
void index_select_forward(const Tensor& x, const Tensor& idx, Tensor& out, std::int64_t outer, std::int64_t n_src,
                          std::int64_t n_idx, std::int64_t inner) {
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::index_select_forward(x.device_data<float>(), idx.device_data<std::int64_t>(), out.device_data<float>(), outer,
                               n_src, n_idx, inner);
    return;
  }
#endif
  cpu::index_select_forward(x.data<float>(), idx.data<std::int64_t>(), out.data<float>(), outer, n_src, n_idx, inner);
}

void index_select_backward(const Tensor& g, const Tensor& idx, Tensor& dx, std::int64_t outer, std::int64_t n_src,
                           std::int64_t n_idx, std::int64_t inner) {
#if GHM_WITH_CUDA
  if (g.device().is_cuda()) {
    const cuda::DeviceGuard guard(g.device().index);
    cuda::index_select_backward(g.device_data<float>(), idx.device_data<std::int64_t>(), dx.device_data<float>(),
                                outer, n_src, n_idx, inner);
    return;
  }
#endif
  cpu::index_select_backward(g.data<float>(), idx.data<std::int64_t>(), dx.data<float>(), outer, n_src, n_idx, inner);
}

void gather_forward(const Tensor& x, const Tensor& idx, int dim, Tensor& out) {
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::gather_forward(x.device_data<float>(), x.shape(), idx.device_data<std::int64_t>(), idx.shape(), dim,
                         out.device_data<float>());
    return;
  }
#endif
  cpu::gather_forward(x.data<float>(), x.shape(), idx.data<std::int64_t>(), idx.shape(), dim, out.data<float>());
}

void gather_backward(const Tensor& g, const Tensor& idx, int dim, Tensor& dx) {
#if GHM_WITH_CUDA
  if (g.device().is_cuda()) {
    const cuda::DeviceGuard guard(g.device().index);
    cuda::gather_backward(g.device_data<float>(), idx.device_data<std::int64_t>(), idx.shape(), dim,
                          dx.device_data<float>(), dx.shape());
    return;
  }
#endif
  cpu::gather_backward(g.data<float>(), idx.data<std::int64_t>(), idx.shape(), dim, dx.data<float>(), dx.shape());
}

struct Split {
  std::int64_t outer = 1, extent = 1, inner = 1;
};

Split split_at(const Shape& s, int dim) {
  Split r;
  for (int d = 0; d < dim; ++d) r.outer *= s[d];
  r.extent = s[dim];
  for (int d = dim + 1; d < s.ndim(); ++d) r.inner *= s[d];
  return r;
}

Shape with_extent(const Shape& s, int dim, std::int64_t extent) {
  Shape out = s;
  out[dim] = extent;
  return out;
}

// Index tensors as i64 on x's device, range-checked against `limit` (on a CUDA device by a kernel
// whose verdict is read back, so the call waits for the device).
Tensor index_as_i64(const Tensor& index, Device device, std::int64_t limit, const char* op) {
  check_defined(index, op, "index");
  GHM_CHECK(index.dtype() == DType::I64 || index.dtype() == DType::I32, op, ": index must be i64 or i32, got ",
            index.dtype());
  GHM_CHECK(index.device() == device, op, ": index is on ", index.device(), " but x is on ", device,
            "; move the index with .to(x.device())");
#if GHM_WITH_CUDA
  if (device.is_cuda()) {
    const cuda::DeviceGuard guard(device.index);
    Tensor idx = index;
    if (index.dtype() == DType::I32) {
      idx = Tensor::empty(index.shape(), DType::I64, device);
      cuda::widen_index(index.device_data<std::int32_t>(), idx.device_data<std::int64_t>(), index.numel());
    }
    cuda::check_index_range(idx.device_data<std::int64_t>(), idx.numel(), limit, op);
    return idx;
  }
#endif
  Tensor idx = index.dtype() == DType::I64 ? index : index.to(DType::I64);
  const std::int64_t* p = idx.data<std::int64_t>();
  for (std::int64_t i = 0; i < idx.numel(); ++i)
    GHM_CHECK(p[i] >= 0 && p[i] < limit, op, ": index ", p[i], " at position ", i, " is out of range [0, ", limit, ")");
  return idx;
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int>& order) {
  check_defined(x, "permute", "x");
  const int n = x.dim();
  GHM_CHECK(static_cast<int>(order.size()) == n, "permute: order has ", order.size(), " entries for shape ", x.shape());
  std::vector<int> inverse(static_cast<std::size_t>(n), -1);
  std::vector<std::int64_t> out_dims(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int d = x.shape().wrap_dim(order[static_cast<std::size_t>(i)], "permute");
    GHM_CHECK(inverse[static_cast<std::size_t>(d)] < 0, "permute: dimension ", d, " appears twice in the order");
    inverse[static_cast<std::size_t>(d)] = i;
    out_dims[static_cast<std::size_t>(i)] = x.shape()[d];
  }
  std::vector<int> wrapped(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) wrapped[static_cast<std::size_t>(inverse[static_cast<std::size_t>(i)])] = i;
  Tensor out = Tensor::empty(Shape(out_dims), x.dtype(), x.device());
  permute_copy(x, out, wrapped.data());
  record_op(out, "permute", {&x}, [inverse](const Tensor& g) { return std::vector<Tensor>{permute(g, inverse)}; });
  return out;
}

Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length) {
  check_defined(x, "narrow", "x");
  const int d = x.shape().wrap_dim(dim, "narrow");
  GHM_CHECK(start >= 0 && length >= 0 && start + length <= x.shape()[d], "narrow: range [", start, ", ",
            start + length, ") is outside dimension ", d, " of shape ", x.shape());
  const Split s = split_at(x.shape(), d);
  Tensor out = Tensor::empty(with_extent(x.shape(), d, length), x.dtype(), x.device());
  copy_slice(x, out, s.outer, s.inner, s.extent, start, length, 0, length);
  record_op(out, "narrow", {&x}, [in_shape = x.shape(), d, start, length](const Tensor& g) {
    const Split s = split_at(in_shape, d);
    Tensor dx = Tensor::zeros(in_shape, DType::F32, g.device());
    copy_slice(g, dx, s.outer, s.inner, length, 0, s.extent, start, length);
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  GHM_CHECK(!xs.empty(), "concat: no tensors given");
  for (std::size_t i = 0; i < xs.size(); ++i) check_defined(xs[i], "concat", "xs[i]");
  const Tensor& first = xs.front();
  const int d = first.shape().wrap_dim(dim, "concat");
  std::int64_t total = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    GHM_CHECK(t.dtype() == first.dtype() && t.device() == first.device() && t.dim() == first.dim(), "concat: tensor ",
              i, " (", t.shape(), ", ", t.dtype(), ", ", t.device(), ") does not match tensor 0 (", first.shape(), ", ",
              first.dtype(), ", ", first.device(), ")");
    for (int k = 0; k < first.dim(); ++k)
      GHM_CHECK(k == d || t.shape()[k] == first.shape()[k], "concat along dimension ", d, ": tensor ", i, " has shape ",
                t.shape(), ", tensor 0 has ", first.shape());
    total += t.shape()[d];
  }
  const Shape out_shape = with_extent(first.shape(), d, total);
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  const Split so = split_at(out_shape, d);
  std::vector<std::int64_t> offsets;
  std::int64_t offset = 0;
  for (const Tensor& t : xs) {
    copy_slice(t, out, so.outer, so.inner, t.shape()[d], 0, total, offset, t.shape()[d]);
    offsets.push_back(offset);
    offset += t.shape()[d];
  }
  std::vector<std::int64_t> sizes;
  for (const Tensor& t : xs) sizes.push_back(t.shape()[d]);
  record_op(out, "concat", xs, [d, offsets, sizes](const Tensor& g) {
    std::vector<Tensor> grads;
    for (std::size_t i = 0; i < sizes.size(); ++i) grads.push_back(narrow(g, d, offsets[i], sizes[i]));
    return grads;
  });
  return out;
}

Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  check_dtype(x, DType::F32, "index_select", "x");
  const int d = x.shape().wrap_dim(dim, "index_select");
  GHM_CHECK(index.defined() && index.dim() == 1, "index_select: index must be 1-D, got shape ",
            index.defined() ? index.shape().to_string() : "undefined");
  Tensor idx = index_as_i64(index, x.device(), x.shape()[d], "index_select");
  const Split s = split_at(x.shape(), d);
  const std::int64_t n = idx.numel();
  Tensor out = Tensor::empty(with_extent(x.shape(), d, n), DType::F32, x.device());
  index_select_forward(x, idx, out, s.outer, s.extent, n, s.inner);
  record_op(out, "index_select", {&x}, [in_shape = x.shape(), d, idx](const Tensor& g) {
    const Split s = split_at(in_shape, d);
    Tensor dx = Tensor::empty(in_shape, DType::F32, g.device());
    index_select_backward(g, idx, dx, s.outer, s.extent, idx.numel(), s.inner);
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor gather(const Tensor& x, int dim, const Tensor& index) {
  check_dtype(x, DType::F32, "gather", "x");
  const int d = x.shape().wrap_dim(dim, "gather");
  check_defined(index, "gather", "index");
  GHM_CHECK(index.dim() == x.dim(), "gather: index of shape ", index.shape(), " must have the rank of x ", x.shape());
  for (int k = 0; k < x.dim(); ++k)
    GHM_CHECK(k == d || index.shape()[k] <= x.shape()[k], "gather along dimension ", d, ": index shape ",
              index.shape(), " exceeds x shape ", x.shape(), " at dimension ", k);
  Tensor idx = index_as_i64(index, x.device(), x.shape()[d], "gather");
  Tensor out = Tensor::empty(index.shape(), DType::F32, x.device());
  gather_forward(x, idx, d, out);
  record_op(out, "gather", {&x}, [in_shape = x.shape(), d, idx](const Tensor& g) {
    Tensor dx = Tensor::empty(in_shape, DType::F32, g.device());
    gather_backward(g, idx, d, dx);
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace ghm
