// Broadcasting (NumPy rules): shapes are aligned on the right; an extent of 1 stretches to match.
//
// A BroadcastPlan describes out[i] = f(a[ia], b[ib]) as nested loops over at most kMaxDims
// dimensions, with stride 0 where an operand is broadcast. Adjacent dimensions that are
// contiguous in all three tensors are merged, so [N,C,H,W] + [1,C,1,1] becomes three loops
// ([N, C, H*W]) and same-shape operands become one flat loop.
#pragma once

#include <array>
#include <cstdint>

#include "core/shape.h"

namespace ghm {

struct BroadcastPlan {
  Shape out_shape;                          // the broadcast result's shape
  int ndim = 0;                             // loops after merging (0 for a scalar result)
  std::array<std::int64_t, kMaxDims> size{};
  std::array<std::int64_t, kMaxDims> stride_a{};
  std::array<std::int64_t, kMaxDims> stride_b{};
};

// Throws naming `op` and both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
BroadcastPlan make_broadcast_plan(const Shape& a, const Shape& b, const char* op);

}  // namespace ghm
