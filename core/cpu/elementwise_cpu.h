// CPU kernels for elementwise ops. Letters: n = number of elements; a plan describes broadcasting.
#pragma once

#include <cstdint>

#include "core/ops/broadcast.h"
#include "core/ops/elementwise_kinds.h"

namespace ghm::cpu {

// out[i] = a[ia] op b[ib] over the broadcast plan.
void binary_forward(BinaryOp op, const BroadcastPlan& plan, const float* a, const float* b, float* out);
// out = op(x) elementwise.            x, out: [n]
void unary_forward(UnaryOp op, const float* x, float* out, std::int64_t n);
// dx = g * op'(saved) elementwise.    g, saved, dx: [n]; saved is the output (relu, sigmoid, exp) or input (log)
void unary_backward(UnaryBackwardOp op, const float* g, const float* saved, float* dx, std::int64_t n);
// out = x * scale + shift.            x, out: [n]
void affine_scalar(const float* x, float scale, float shift, float* out, std::int64_t n);

}  // namespace ghm::cpu
