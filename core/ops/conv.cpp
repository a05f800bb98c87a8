// conv2d: forward and backward side by side (the kernels and their math: core/cpu/conv_cpu.cpp).
//
//   y = conv(x, W) + b      dx = conv_backward_data(dy, W)
//                           dW = conv_backward_weight(x, dy),  db = sum over N, HO, WO of dy
#include "core/ops/conv.h"

#include "core/autograd.h"
#include "core/cpu/conv_cpu.h"

namespace ghm {
namespace {

cpu::ConvGeometry check_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  check_dtype(x, DType::F32, "conv2d", "input");
  check_dtype(w, DType::F32, "conv2d", "weight");
  GHM_CHECK(x.dim() == 4, "conv2d: input must be [N, C, H, W], got ", x.shape());
  GHM_CHECK(w.dim() == 4, "conv2d: weight must be [O, C/groups, KH, KW], got ", w.shape());
  GHM_CHECK(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0 && p.pad_h >= 0 && p.pad_w >= 0 &&
                p.groups > 0,
            "conv2d: invalid parameters stride ", p.stride_h, "x", p.stride_w, ", padding ", p.pad_h, "x", p.pad_w,
            ", dilation ", p.dilation_h, "x", p.dilation_w, ", groups ", p.groups);
  const std::int64_t C = x.size(1), O = w.size(0);
  GHM_CHECK(C % p.groups == 0 && O % p.groups == 0, "conv2d: ", C, " input and ", O,
            " output channels are not divisible by groups=", p.groups);
  GHM_CHECK(w.size(1) == C / p.groups, "conv2d: weight ", w.shape(), " expects ", w.size(1) * p.groups,
            " input channels with groups=", p.groups, ", input ", x.shape(), " has ", C);
  if (b.defined()) {
    check_dtype(b, DType::F32, "conv2d", "bias");
    GHM_CHECK(b.dim() == 1 && b.size(0) == O, "conv2d: bias ", b.shape(), " must be [", O, "]");
  }
  GHM_CHECK(x.device() == w.device() && (!b.defined() || b.device() == x.device()), "conv2d: input on ", x.device(),
            ", weight on ", w.device(), ": all operands must be on one device");
  cpu::ConvGeometry g{x.size(0), C, x.size(2), x.size(3), O, w.size(2), w.size(3), 0, 0, p};
  const std::int64_t eff_h = p.dilation_h * (g.kh - 1) + 1, eff_w = p.dilation_w * (g.kw - 1) + 1;
  GHM_CHECK(g.h + 2 * p.pad_h >= eff_h && g.w + 2 * p.pad_w >= eff_w, "conv2d: input ", x.shape(), " padded by ", p.pad_h,
            "x", p.pad_w, " is smaller than the dilated kernel ", eff_h, "x", eff_w);
  g.ho = (g.h + 2 * p.pad_h - eff_h) / p.stride_h + 1;
  g.wo = (g.w + 2 * p.pad_w - eff_w) / p.stride_w + 1;
  return g;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  const cpu::ConvGeometry g = check_conv(x, weight, bias, p);
  Tensor y = Tensor::empty(Shape{g.n, g.o, g.ho, g.wo});
  cpu::conv2d_forward(g, x.data<float>(), weight.data<float>(), bias.defined() ? bias.data<float>() : nullptr,
                      y.data<float>());
  const bool need_x = needs_grad({&x}), need_w = needs_grad({&weight}), need_b = needs_grad({&bias});
  record_op(y, "conv2d", {&x, &weight, &bias},
            [g, need_x, need_w, need_b, x_saved = need_w ? x.detach() : Tensor(),
             w_saved = need_x ? weight.detach() : Tensor()](const Tensor& dy) {
              Tensor dx, dw, db;
              if (need_x) {
                dx = Tensor::empty(Shape{g.n, g.c, g.h, g.w});
                cpu::conv2d_backward_data(g, dy.data<float>(), w_saved.data<float>(), dx.data<float>());
              }
              if (need_w) {
                dw = Tensor::empty(Shape{g.o, g.c / g.p.groups, g.kh, g.kw});
                cpu::conv2d_backward_weight(g, x_saved.data<float>(), dy.data<float>(), dw.data<float>());
              }
              if (need_b) {
                db = Tensor::empty(Shape{g.o});
                cpu::conv2d_backward_bias(g, dy.data<float>(), db.data<float>());
              }
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

}  // namespace ghm
