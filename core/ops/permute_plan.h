// The plan of a permutation copy, shared by the CPU and CUDA kernels: output extents with their
// source strides (in elements), simplified: size-1 dimensions dropped and neighbours merged where
// the source is contiguous across them, so that e.g. [N, C, H, W] -> [N, H, W, C] becomes the
// batched transpose [N, HW, C] with strides [CHW, 1, HW], and an identity order one flat copy.
#pragma once

#include <array>
#include <cstdint>

#include "core/shape.h"

namespace ghm {

struct PermutePlan {
  int ndim = 0;  // 0: a single element
  std::array<std::int64_t, kMaxDims> size{}, stride{};
};

// order[i] = the input dimension that becomes output dimension i.
inline PermutePlan plan_permute(const Shape& in_shape, const int* order) {
  PermutePlan p;
  for (int i = 0; i < in_shape.ndim(); ++i) {
    const std::int64_t n = in_shape[order[i]], st = in_shape.stride(order[i]);
    if (n == 1) continue;
    if (p.ndim > 0 && p.stride[static_cast<std::size_t>(p.ndim - 1)] == st * n) {
      p.size[static_cast<std::size_t>(p.ndim - 1)] *= n;
      p.stride[static_cast<std::size_t>(p.ndim - 1)] = st;
    } else {
      p.size[static_cast<std::size_t>(p.ndim)] = n;
      p.stride[static_cast<std::size_t>(p.ndim)] = st;
      ++p.ndim;
    }
  }
  return p;
}

}  // namespace ghm
