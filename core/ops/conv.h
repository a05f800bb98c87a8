// Differentiable 2-D convolution (cross-correlation, as in PyTorch).
//
//   x: [N, C, H, W]   weight: [O, C/groups, KH, KW]   bias: [O] or undefined   ->   [N, O, HO, WO]
//   HO = (H + 2*pad_h - dilation_h*(KH-1) - 1) / stride_h + 1   (likewise WO)
#pragma once

#include "core/tensor.h"

namespace ghm {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;

  static Conv2dParams square(int stride, int pad, int dilation = 1, int groups = 1) {
    return {stride, stride, pad, pad, dilation, dilation, groups};
  }
};

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);

}  // namespace ghm
