// CPU convolution kernels on oneDNN (built when GHM_WITH_ONEDNN; the method is described at the top
// of conv_onednn.cpp). Same arguments, layouts and results as the im2col + Eigen kernels of
// conv_cpu.h, which stay the reference these are tested against.
//
// Letters: N images, C input channels, O output channels, G groups, H x W input, HO x WO output,
// KH x KW kernel. Every buffer is dense row-major: activations NCHW, weights OIHW ([O, C/G, KH, KW]).
// N, C and O must be at least 1 (conv.cpp sends empty problems to the reference kernels).
//
// `math`: fp32, or bf16 (core/precision.h): the two operands a pass reads are rounded to bfloat16 on
// their way into the primitive, products are accumulated and written in float32. Every buffer here
// stays float32 either way. fp16 is refused (CUDA only).
#pragma once

#include "core/cpu/conv_cpu.h"
#include "core/precision.h"

namespace ghm::cpu {

// y = conv(x, weight) + bias, then max(y, 0) when relu (fused: one pass over y).
//                                x: [N,C,H,W], weight: [O,C/G,KH,KW], bias: [O] or null, y: [N,O,HO,WO]
void onednn_conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y,
                           bool relu = false, Precision math = Precision::F32);
// dx = conv_transpose(dy, weight).            dy: [N,O,HO,WO], weight: [O,C/G,KH,KW], dx: [N,C,H,W]
void onednn_conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* weight, float* dx,
                                 Precision math = Precision::F32);
// dweight = dL/dweight and, when dbias is not null, dbias[o] = sum over n, ho, wo of dy (one fused pass).
//                      x: [N,C,H,W], dy: [N,O,HO,WO], dweight: [O,C/G,KH,KW], dbias: [O] or null
void onednn_conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight,
                                   float* dbias, Precision math = Precision::F32);

}  // namespace ghm::cpu
