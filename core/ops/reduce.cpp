// Reductions: forward and backward side by side.
//
//   y = sum_D x        dx = broadcast(g, shape of x)       (g reshaped with kept dims first)
//   y = mean_D x       dx = broadcast(g, shape of x) / |D|
//
// A set of reduced dimensions is processed as maximal runs of adjacent dimensions, last run
// first; each run is one [outer, r, inner] kernel call.
#include "core/ops/reduce.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/cpu/elementwise_cpu.h"
#include "core/cpu/reduce_cpu.h"
#include "core/ops/elementwise.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/elementwise_cuda.h"
#include "core/cuda/reduce_cuda.h"
#endif

namespace ghm {
namespace {

constexpr float kZero = 0.0f;

std::vector<bool> reduced_mask(const Shape& shape, const std::vector<int>& dims, const char* op) {
  std::vector<bool> mask(static_cast<std::size_t>(shape.ndim()), false);
  for (int d : dims) {
    const int w = shape.wrap_dim(d, op);
    GHM_CHECK(!mask[static_cast<std::size_t>(w)], op, ": dimension ", d, " listed twice for shape ", shape);
    mask[static_cast<std::size_t>(w)] = true;
  }
  return mask;
}

// out[o, i] = sum_r x[o, r, i] on the tensors' device.
void sum_middle(const Tensor& x, Tensor& out, std::int64_t outer, std::int64_t r, std::int64_t inner) {
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::sum_middle(x.device_data<float>(), out.device_data<float>(), outer, r, inner);
    return;
  }
#endif
  cpu::sum_middle(x.data<float>(), out.data<float>(), outer, r, inner);
}

// A [] tensor on x's device holding scale * (sum of x's elements), accumulated in double.
Tensor scaled_total(const Tensor& x, double scale) {
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    Tensor out = Tensor::empty(Shape{}, DType::F32, x.device());
    cuda::sum_all(x.device_data<float>(), x.numel(), scale, out.device_data<float>());
    return out;
  }
#endif
  return Tensor::scalar(static_cast<float>(cpu::sum_all(x.data<float>(), x.numel()) * scale));
}

// Sums over the masked dimensions; the result keeps every dimension (extent 1 where reduced).
Tensor sum_keepdim(const Tensor& x, const std::vector<bool>& mask) {
  Tensor cur = x;
  std::vector<std::int64_t> dims = x.shape().to_vector();
  const int n = x.dim();
  int d = n - 1;
  while (d >= 0) {
    if (!mask[static_cast<std::size_t>(d)] || dims[static_cast<std::size_t>(d)] == 1) {
      --d;
      continue;
    }
    int lo = d;
    while (lo - 1 >= 0 && mask[static_cast<std::size_t>(lo - 1)]) --lo;
    std::int64_t outer = 1, r = 1, inner = 1;
    for (int i = 0; i < lo; ++i) outer *= dims[static_cast<std::size_t>(i)];
    for (int i = lo; i <= d; ++i) r *= dims[static_cast<std::size_t>(i)];
    for (int i = d + 1; i < n; ++i) inner *= dims[static_cast<std::size_t>(i)];
    for (int i = lo; i <= d; ++i) dims[static_cast<std::size_t>(i)] = 1;
    Tensor next = r == 0 ? Tensor::zeros(Shape(dims), DType::F32, x.device())
                         : Tensor::empty(Shape(dims), DType::F32, x.device());
    if (r > 0) sum_middle(cur, next, outer, r, inner);
    cur = next;
    d = lo - 1;
  }
  return cur.shares_storage_with(x) ? x.detach().clone() : cur;
}

Shape drop_dims(const Shape& shape, const std::vector<bool>& mask) {
  std::vector<std::int64_t> out;
  for (int d = 0; d < shape.ndim(); ++d)
    if (!mask[static_cast<std::size_t>(d)]) out.push_back(shape[d]);
  return Shape(out);
}

Shape keep_dims(const Shape& shape, const std::vector<bool>& mask) {
  std::vector<std::int64_t> out = shape.to_vector();
  for (int d = 0; d < shape.ndim(); ++d)
    if (mask[static_cast<std::size_t>(d)]) out[static_cast<std::size_t>(d)] = 1;
  return Shape(out);
}

Tensor reduce(const Tensor& x, const std::vector<int>& dims, KeepDim keep, bool average, const char* op) {
  check_dtype(x, DType::F32, op, "x");
  const std::vector<bool> mask = reduced_mask(x.shape(), dims, op);
  std::int64_t count = 1;
  for (int d = 0; d < x.dim(); ++d)
    if (mask[static_cast<std::size_t>(d)]) count *= x.shape()[d];
  Tensor out;
  {
    NoGradGuard no_grad;
    out = sum_keepdim(x.detach(), mask);
    if (average) out = mul_scalar(out, 1.0f / static_cast<float>(count));
    out = out.reshape(keep == KeepDim::Yes ? keep_dims(x.shape(), mask) : drop_dims(x.shape(), mask)).detach();
  }
  const float scale = average ? 1.0f / static_cast<float>(count) : 1.0f;
  record_op(out, op, {&x}, [in_shape = x.shape(), kept = keep_dims(x.shape(), mask), scale](const Tensor& g) {
    Tensor dx = broadcast_to(g.reshape(kept), in_shape);
    return std::vector<Tensor>{scale == 1.0f ? dx : mul_scalar(dx, scale)};
  });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& dims, KeepDim keep) { return reduce(x, dims, keep, false, "sum"); }
Tensor mean(const Tensor& x, const std::vector<int>& dims, KeepDim keep) { return reduce(x, dims, keep, true, "mean"); }

Tensor sum(const Tensor& x) {
  check_dtype(x, DType::F32, "sum", "x");
  Tensor out = scaled_total(x, 1.0);
  record_op(out, "sum", {&x}, [in_shape = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{broadcast_to(g, in_shape)};
  });
  return out;
}

Tensor mean(const Tensor& x) {
  check_dtype(x, DType::F32, "mean", "x");
  GHM_CHECK(x.numel() > 0, "mean: tensor of shape ", x.shape(), " has no elements");
  const double n = static_cast<double>(x.numel());
  Tensor out = scaled_total(x, 1.0 / n);
  record_op(out, "mean", {&x}, [in_shape = x.shape(), n](const Tensor& g) {
    return std::vector<Tensor>{mul_scalar(broadcast_to(g, in_shape), static_cast<float>(1.0 / n))};
  });
  return out;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int n = g.dim(), lead = n - shape.ndim();
  GHM_CHECK(lead >= 0, "sum_to: cannot sum shape ", g.shape(), " down to ", shape);
  std::vector<bool> mask(static_cast<std::size_t>(n), false);
  for (int d = 0; d < n; ++d) {
    if (d < lead) {
      mask[static_cast<std::size_t>(d)] = true;
    } else {
      const std::int64_t want = shape[d - lead];
      GHM_CHECK(want == g.shape()[d] || want == 1, "sum_to: cannot sum shape ", g.shape(), " down to ", shape);
      mask[static_cast<std::size_t>(d)] = want == 1 && g.shape()[d] != 1;
    }
  }
  NoGradGuard no_grad;
  return sum_keepdim(g.detach(), mask).reshape(shape).detach();
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_dtype(x, DType::F32, "broadcast_to", "x");
  BroadcastPlan plan = make_broadcast_plan(x.shape(), shape, "broadcast_to");
  GHM_CHECK(plan.out_shape == shape, "broadcast_to: shape ", x.shape(), " does not broadcast to ", shape);
  plan.stride_b.fill(0);  // the second operand is a single zero
  Tensor out = Tensor::empty(shape, DType::F32, x.device());
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    const Tensor zero = Tensor::zeros(Shape{}, DType::F32, x.device());
    cuda::binary_forward(BinaryOp::Add, plan, x.device_data<float>(), zero.device_data<float>(), out.device_data<float>());
    return out;
  }
#endif
  cpu::binary_forward(BinaryOp::Add, plan, x.data<float>(), &kZero, out.data<float>());
  return out;
}

}  // namespace ghm
