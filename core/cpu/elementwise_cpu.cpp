// Elementwise kernels on the CPU.
//
// Binary ops walk a BroadcastPlan (core/ops/broadcast.h): the innermost loop has operand strides
// of 1 or 0 in the common cases (same shape, scalar, per-channel), which get their own loops so
// the compiler vectorises them. The flat range of output elements is split across threads.
#include "core/cpu/elementwise_cpu.h"

#include <cmath>

#include "core/cpu/parallel.h"
#include "core/ops/elementwise_math.h"

namespace ghm::cpu {
namespace {

template <class F>
void inner_loop(F f, const float* a, std::int64_t sa, const float* b, std::int64_t sb, float* out, std::int64_t n) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i * sa], b[i * sb]);
  }
}

template <class F>
void binary_loop(F f, const BroadcastPlan& p, const float* a, const float* b, float* out) {
  const std::int64_t total = p.out_shape.numel();
  if (total == 0) return;
  if (p.ndim == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  const int last = p.ndim - 1;
  const std::int64_t inner = p.size[static_cast<std::size_t>(last)];
  parallel_for(total, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    // Multi-index of `begin`, outermost first.
    std::array<std::int64_t, kMaxDims> idx{};
    std::int64_t rem = begin;
    for (int d = last; d >= 0; --d) {
      const auto D = static_cast<std::size_t>(d);
      idx[D] = rem % p.size[D];
      rem /= p.size[D];
    }
    std::int64_t pos = begin;
    while (pos < end) {
      std::int64_t oa = 0, ob = 0;
      for (int d = 0; d < p.ndim; ++d) {
        const auto D = static_cast<std::size_t>(d);
        oa += idx[D] * p.stride_a[D];
        ob += idx[D] * p.stride_b[D];
      }
      const std::int64_t i0 = idx[static_cast<std::size_t>(last)];
      const std::int64_t len = std::min(inner - i0, end - pos);
      inner_loop(f, a + oa, p.stride_a[static_cast<std::size_t>(last)], b + ob,
                 p.stride_b[static_cast<std::size_t>(last)], out + pos, len);
      pos += len;
      // Advance the multi-index to the start of the next row.
      idx[static_cast<std::size_t>(last)] = 0;
      for (int d = last - 1; d >= 0; --d) {
        const auto D = static_cast<std::size_t>(d);
        if (++idx[D] < p.size[D]) break;
        idx[D] = 0;
      }
    }
  });
}

template <class F>
void map_loop(F f, std::int64_t n) {
  parallel_for(n, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) f(i);
  });
}

}  // namespace

void binary_forward(BinaryOp op, const BroadcastPlan& plan, const float* a, const float* b, float* out) {
  switch (op) {
    case BinaryOp::Add: binary_loop([](float x, float y) { return x + y; }, plan, a, b, out); break;
    case BinaryOp::Sub: binary_loop([](float x, float y) { return x - y; }, plan, a, b, out); break;
    case BinaryOp::Mul: binary_loop([](float x, float y) { return x * y; }, plan, a, b, out); break;
    case BinaryOp::Div: binary_loop([](float x, float y) { return x / y; }, plan, a, b, out); break;
    case BinaryOp::AddRelu: binary_loop([](float x, float y) { return math::relu(x + y); }, plan, a, b, out); break;
  }
}

void unary_forward(UnaryOp op, const float* x, float* out, std::int64_t n) {
  switch (op) {
    case UnaryOp::Neg: map_loop([=](std::int64_t i) { out[i] = -x[i]; }, n); break;
    case UnaryOp::Relu: map_loop([=](std::int64_t i) { out[i] = math::relu(x[i]); }, n); break;
    case UnaryOp::Sigmoid: map_loop([=](std::int64_t i) { out[i] = math::sigmoid(x[i]); }, n); break;
    case UnaryOp::Exp: map_loop([=](std::int64_t i) { out[i] = std::exp(x[i]); }, n); break;
    case UnaryOp::Log: map_loop([=](std::int64_t i) { out[i] = std::log(x[i]); }, n); break;
  }
}

void unary_backward(UnaryBackwardOp op, const float* g, const float* saved, float* dx, std::int64_t n) {
  switch (op) {
    case UnaryBackwardOp::Relu: map_loop([=](std::int64_t i) { dx[i] = math::relu_backward(g[i], saved[i]); }, n); break;
    case UnaryBackwardOp::Sigmoid:
      map_loop([=](std::int64_t i) { dx[i] = math::sigmoid_backward(g[i], saved[i]); }, n);
      break;
    case UnaryBackwardOp::Exp: map_loop([=](std::int64_t i) { dx[i] = math::exp_backward(g[i], saved[i]); }, n); break;
    case UnaryBackwardOp::Log: map_loop([=](std::int64_t i) { dx[i] = math::log_backward(g[i], saved[i]); }, n); break;
  }
}

void affine_scalar(const float* x, float scale, float shift, float* out, std::int64_t n) {
  map_loop([=](std::int64_t i) { out[i] = x[i] * scale + shift; }, n);
}

}  // namespace ghm::cpu
