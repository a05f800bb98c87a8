// CUDA kernels for elementwise ops: the twins of core/cpu/elementwise_cpu.h, with the same names
// and arguments; every pointer is device memory of the current device. Kernels run on the legacy
// default stream (asynchronous with respect to the host). Letters: n = number of elements.
//
// Pure C++ declarations; defined in elementwise_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/ops/broadcast.h"
#include "core/ops/elementwise_kinds.h"

namespace ghm::cuda {

// out[i] = a[ia] op b[ib] over the broadcast plan.   a, b: per the plan; out: [plan.out_shape]
void binary_forward(BinaryOp op, const BroadcastPlan& plan, const float* a, const float* b, float* out);
// out = op(x) elementwise.                           x, out: [n]
void unary_forward(UnaryOp op, const float* x, float* out, std::int64_t n);
// dx = g * op'(saved) elementwise.                   g, saved, dx: [n]
void unary_backward(UnaryBackwardOp op, const float* g, const float* saved, float* dx, std::int64_t n);
// out = x * scale + shift.                           x, out: [n]
void affine_scalar(const float* x, float scale, float shift, float* out, std::int64_t n);

}  // namespace ghm::cuda
