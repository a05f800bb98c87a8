// Differentiable shape ops. Every result is a new contiguous tensor (reshape, in core/tensor.h,
// is the only view). Index tensors are i64 or i32.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace ghm {

// out.shape[i] = x.shape[order[i]]
Tensor permute(const Tensor& x, const std::vector<int>& order);
// Elements start..start+length-1 along `dim`.
Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length);
// Joins along `dim`; all other extents must agree.
Tensor concat(const std::vector<Tensor>& xs, int dim);
// out = x with dimension `dim` indexed by the 1-D `index`: out[.., i, ..] = x[.., index[i], ..]
Tensor index_select(const Tensor& x, int dim, const Tensor& index);
// out[i0,..,ik] = x[i0,.., index[i0,..,ik] (at dim), ..,ik]; index has x's rank and extents <= x's
// (except at dim); out has index's shape
Tensor gather(const Tensor& x, int dim, const Tensor& index);

}  // namespace ghm
