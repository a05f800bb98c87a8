// Elementwise kernels on CUDA: one thread per output element in a grid-stride loop.
//
//   binary:  out[i] = f(a[ia(i)], b[ib(i)]),  ia, ib from i's multi-index and the plan's strides
//            (0 where broadcast); same-shape operands take a flat path without index arithmetic
//   unary:   out[i] = f(x[i]);  backward: dx[i] = g[i] * f'(saved[i])
//
// The per-element formulas are core/ops/elementwise_math.h, shared with the CPU kernels, so both
// backends evaluate the same expressions (up to the device's exp/log rounding).
#include "core/cuda/elementwise_cuda.h"

#include <algorithm>

#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"
#include "core/ops/elementwise_math.h"

namespace ghm::cuda {
namespace {

// The plan as plain arrays: a kernel argument (std::array's accessors are host-only).
struct DevicePlan {
  int ndim;
  std::int64_t size[kMaxDims];
  std::int64_t stride_a[kMaxDims];
  std::int64_t stride_b[kMaxDims];
};

DevicePlan to_device_plan(const BroadcastPlan& p) {
  DevicePlan d{};
  d.ndim = p.ndim;
  for (int i = 0; i < kMaxDims; ++i) {
    d.size[i] = p.size[static_cast<std::size_t>(i)];
    d.stride_a[i] = p.stride_a[static_cast<std::size_t>(i)];
    d.stride_b[i] = p.stride_b[static_cast<std::size_t>(i)];
  }
  return d;
}

struct AddF {
  __device__ float operator()(float x, float y) const { return x + y; }
};
struct AddReluF {
  __device__ float operator()(float x, float y) const { return math::relu(x + y); }
};
struct SubF {
  __device__ float operator()(float x, float y) const { return x - y; }
};
struct MulF {
  __device__ float operator()(float x, float y) const { return x * y; }
};
struct DivF {
  __device__ float operator()(float x, float y) const { return x / y; }
};

template <class F>
__global__ void binary_flat_kernel(F f, const float* __restrict__ a, const float* __restrict__ b,
                                   float* __restrict__ out, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    out[i] = f(a[i], b[i]);
}

template <class F>
__global__ void binary_strided_kernel(F f, DevicePlan p, const float* __restrict__ a, const float* __restrict__ b,
                                      float* __restrict__ out, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    std::int64_t rem = i, oa = 0, ob = 0;
    for (int d = p.ndim - 1; d >= 0; --d) {
      const std::int64_t k = rem % p.size[d];
      rem /= p.size[d];
      oa += k * p.stride_a[d];
      ob += k * p.stride_b[d];
    }
    out[i] = f(a[oa], b[ob]);
  }
}

template <class F>
void launch_binary(F f, const BroadcastPlan& plan, const float* a, const float* b, float* out) {
  const std::int64_t n = plan.out_shape.numel();
  if (n == 0) return;
  const bool flat = plan.ndim == 1 && plan.stride_a[0] == 1 && plan.stride_b[0] == 1;
  if (flat) binary_flat_kernel<<<blocks_for(n), kThreads>>>(f, a, b, out, n);
  else binary_strided_kernel<<<blocks_for(n), kThreads>>>(f, to_device_plan(plan), a, b, out, n);
  GHM_CUDA_CHECK_LAUNCH();
}

__global__ void unary_kernel(UnaryOp op, const float* __restrict__ x, float* __restrict__ out, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    switch (op) {  // uniform across the grid: no divergence
      case UnaryOp::Neg: out[i] = -v; break;
      case UnaryOp::Relu: out[i] = math::relu(v); break;
      case UnaryOp::Sigmoid: out[i] = math::sigmoid(v); break;
      case UnaryOp::Exp: out[i] = expf(v); break;
      case UnaryOp::Log: out[i] = logf(v); break;
    }
  }
}

__global__ void unary_backward_kernel(UnaryBackwardOp op, const float* __restrict__ g, const float* __restrict__ saved,
                                      float* __restrict__ dx, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float gi = g[i], s = saved[i];
    switch (op) {
      case UnaryBackwardOp::Relu: dx[i] = math::relu_backward(gi, s); break;
      case UnaryBackwardOp::Sigmoid: dx[i] = math::sigmoid_backward(gi, s); break;
      case UnaryBackwardOp::Exp: dx[i] = math::exp_backward(gi, s); break;
      case UnaryBackwardOp::Log: dx[i] = math::log_backward(gi, s); break;
    }
  }
}

__global__ void affine_kernel(const float* __restrict__ x, float scale, float shift, float* __restrict__ out,
                              std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    out[i] = x[i] * scale + shift;
}

}  // namespace

void binary_forward(BinaryOp op, const BroadcastPlan& plan, const float* a, const float* b, float* out) {
  switch (op) {
    case BinaryOp::Add: launch_binary(AddF{}, plan, a, b, out); break;
    case BinaryOp::Sub: launch_binary(SubF{}, plan, a, b, out); break;
    case BinaryOp::Mul: launch_binary(MulF{}, plan, a, b, out); break;
    case BinaryOp::Div: launch_binary(DivF{}, plan, a, b, out); break;
    case BinaryOp::AddRelu: launch_binary(AddReluF{}, plan, a, b, out); break;
  }
}

void unary_forward(UnaryOp op, const float* x, float* out, std::int64_t n) {
  if (n == 0) return;
  unary_kernel<<<blocks_for(n), kThreads>>>(op, x, out, n);
  GHM_CUDA_CHECK_LAUNCH();
}

void unary_backward(UnaryBackwardOp op, const float* g, const float* saved, float* dx, std::int64_t n) {
  if (n == 0) return;
  unary_backward_kernel<<<blocks_for(n), kThreads>>>(op, g, saved, dx, n);
  GHM_CUDA_CHECK_LAUNCH();
}

void affine_scalar(const float* x, float scale, float shift, float* out, std::int64_t n) {
  if (n == 0) return;
  affine_kernel<<<blocks_for(n), kThreads>>>(x, scale, shift, out, n);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::cuda
