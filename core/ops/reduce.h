// Differentiable reductions: sum and mean over all elements or along dimensions.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace ghm {

enum class KeepDim : bool { No, Yes };

Tensor sum(const Tensor& x);   // -> []
Tensor mean(const Tensor& x);  // -> []
Tensor sum(const Tensor& x, const std::vector<int>& dims, KeepDim keep = KeepDim::No);
Tensor mean(const Tensor& x, const std::vector<int>& dims, KeepDim keep = KeepDim::No);

// Not differentiable; the building blocks of broadcasting's backward and forward.
// sum_to: sums `g` down to `shape`, the shape of an operand that was broadcast to g's shape.
Tensor sum_to(const Tensor& g, const Shape& shape);
// broadcast_to: copies x into `shape` (x must broadcast to it).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace ghm
