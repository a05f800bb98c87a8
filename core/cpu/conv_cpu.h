// CPU convolution kernels: im2col + GEMM. Letters: N images, C input channels, O output channels,
// G groups, H x W input, HO x WO output, KH x KW kernel.
#pragma once

#include <cstdint>
#include <string>

#include "core/ops/conv.h"

namespace ghm::cpu {

struct ConvGeometry {
  std::int64_t n, c, h, w;    // input
  std::int64_t o, kh, kw;     // weight [O, C/G, KH, KW]
  std::int64_t ho, wo;        // output
  Conv2dParams p;
};

// The three passes of a convolution, as the backends (oneDNN, cuDNN) name them in messages.
enum class ConvPass { Forward, BackwardData, BackwardWeight };
const char* conv_pass_name(ConvPass pass);  // "forward", "backward-data", "backward-weight"
// "input [N, C, H, W], weight [...], output [...], stride SxS, padding PxP, dilation DxD, groups G"
std::string describe(const ConvGeometry& g);

// y = conv(x, weight) + bias.    x: [N,C,H,W], weight: [O,C/G,KH,KW], bias: [O] or null, y: [N,O,HO,WO]
void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y);
// dx = conv_transpose(dy, weight).            dy: [N,O,HO,WO], weight: [O,C/G,KH,KW], dx: [N,C,H,W]
void conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* weight, float* dx);
// dweight = sum_n dy[n] x im2col(x[n])^T.    x: [N,C,H,W], dy: [N,O,HO,WO], dweight: [O,C/G,KH,KW]
void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight);
// dbias[o] = sum over n, ho, wo of dy.        dy: [N,O,HO,WO], dbias: [O]
void conv2d_backward_bias(const ConvGeometry& g, const float* dy, float* dbias);

}  // namespace ghm::cpu
