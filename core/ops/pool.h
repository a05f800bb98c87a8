// Differentiable 2-D max pooling and nearest-neighbour resizing over [N, C, H, W].
#pragma once

#include "core/tensor.h"

namespace ghm {

struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;

  static Pool2dParams square(int kernel, int stride, int pad) { return {kernel, kernel, stride, stride, pad, pad}; }
};

// HO = (H + 2*pad_h - kernel_h) / stride_h + 1 (floor, as PyTorch's default ceil_mode=False);
// padding counts as -infinity; NaN propagates.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);

// Nearest-neighbour resize to [N, C, out_h, out_w] with PyTorch's 'nearest' rule:
// src = min(floor(dst * (in / out)), in - 1), the scale computed in float.
Tensor upsample_nearest(const Tensor& x, std::int64_t out_h, std::int64_t out_w);

}  // namespace ghm
