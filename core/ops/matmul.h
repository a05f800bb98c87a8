// Differentiable matrix product: [M, K] x [K, N] -> [M, N], or batched [B, M, K] x [B, K, N].
#pragma once

#include "core/tensor.h"

namespace ghm {

Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace ghm
