// Differentiable elementwise ops on f32 tensors. Binary ops broadcast (NumPy rules), so a
// per-channel [1,C,1,1] or a scalar [] operand works against [N,C,H,W]; the gradient of a
// broadcast operand is summed back to its shape.
#pragma once

#include "core/tensor.h"

namespace ghm {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// relu(a + b) in one pass (a residual connection): no a + b tensor is written or read back.
Tensor add_relu(const Tensor& a, const Tensor& b);

Tensor add_scalar(const Tensor& x, float s);  // x + s
Tensor mul_scalar(const Tensor& x, float s);  // x * s
Tensor neg(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& x, float s) { return add_scalar(x, s); }
inline Tensor operator-(const Tensor& x, float s) { return add_scalar(x, -s); }
inline Tensor operator*(const Tensor& x, float s) { return mul_scalar(x, s); }
inline Tensor operator*(float s, const Tensor& x) { return mul_scalar(x, s); }
inline Tensor operator/(const Tensor& x, float s) { return mul_scalar(x, 1.0f / s); }

}  // namespace ghm
