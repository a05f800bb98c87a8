// CUDA convolution kernels on cuDNN: the twins of core/cpu/conv_cpu.h, with the same names,
// geometry and dense layouts (activations NCHW, weights OIHW = [O, C/G, KH, KW], float32). Every
// pointer is device memory of the current device; the work is queued on the legacy default stream
// (asynchronous with respect to the host). Results are the same on every run (only deterministic
// cuDNN algorithms are used); with TF32 allowed (core/cuda/math_mode.h) the products may run on
// TF32 tensor cores. Any extent may be zero (empty problems are handled without cuDNN).
//
// Letters: N images, C input channels, O output channels, G groups, H x W input, HO x WO output,
// KH x KW kernel. How algorithms are chosen and cached: the top of conv_cudnn.cpp.
//
// `math`: fp32 (TF32 as math_mode.h says), or bf16 / fp16 (core/precision.h): the pass reads 16-bit
// copies of its two inputs and its result is rounded to 16 bits before it is widened into the
// float32 output (the top of conv_cudnn.cpp). Every buffer here is float32 either way.
//
// Pure C++ declarations; defined in conv_cudnn.cpp, which is built only with CUDA.
#pragma once

#include "core/cpu/conv_cpu.h"
#include "core/precision.h"

namespace ghm::cuda {

using ConvGeometry = cpu::ConvGeometry;

// What follows the bias in conv2d_forward: nothing (conv2d) or max(., 0) (conv2d_relu).
enum class ConvActivation { None, Relu };

// y = conv(x, weight) + bias, then max(y, 0) for ConvActivation::Relu.
//                                 x: [N,C,H,W], weight: [O,C/G,KH,KW], bias: [O] or null, y: [N,O,HO,WO]
void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y,
                    ConvActivation activation = ConvActivation::None, Precision math = Precision::F32);
// dx = conv_transpose(dy, weight).             dy: [N,O,HO,WO], weight: [O,C/G,KH,KW], dx: [N,C,H,W]
void conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* weight, float* dx,
                          Precision math = Precision::F32);
// dweight = sum_n dy[n] x im2col(x[n])^T.     x: [N,C,H,W], dy: [N,O,HO,WO], dweight: [O,C/G,KH,KW]
void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight,
                            Precision math = Precision::F32);
// dbias[o] = sum over n, ho, wo of dy.         dy: [N,O,HO,WO], dbias: [O]
void conv2d_backward_bias(const ConvGeometry& g, const float* dy, float* dbias);

}  // namespace ghm::cuda
