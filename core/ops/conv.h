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
// relu(conv2d(x, weight, bias, p)) with the ReLU fused into the convolution's output pass.
Tensor conv2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);

// The kernels behind conv2d on the CPU: oneDNN (core/cpu/conv_onednn.h) when this build has it
// (GHM_WITH_ONEDNN), else the im2col + Eigen reference (core/cpu/conv_cpu.h). The environment variable
// GHM_CONV_IMPL = onednn | reference overrides the default; it is read once, on first use.
enum class ConvCpuImpl { OneDnn, Reference };

ConvCpuImpl conv2d_cpu_impl();
const char* conv2d_cpu_impl_name(ConvCpuImpl impl);  // "onednn" or "reference (im2col + Eigen GEMM)"
const char* conv2d_cpu_impl_name();                  // of conv2d_cpu_impl()

}  // namespace ghm
