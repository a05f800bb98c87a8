// conv2d: forward and backward side by side (the kernels and their math: core/cpu/conv_cpu.cpp for
// the im2col + Eigen reference, core/cpu/conv_onednn.cpp for the oneDNN fast path,
// core/cuda/conv_cudnn.cpp for CUDA).
//
//   y = conv(x, W) + b      dx = conv_backward_data(dy, W)
//                           dW = conv_backward_weight(x, dy),  db = sum over N, HO, WO of dy
//   conv2d_relu: y = max(conv(x, W) + b, 0) in one pass (a oneDNN post-op); backward runs the
//                above on dy * [y > 0]
//
// Dispatch: CUDA operands run the cuDNN twins (core/cuda/conv_cudnn.h; the ReLU of conv2d_relu is a
// cuDNN pass over y there). Under an AutocastScope (core/precision.h) the three passes run in its
// precision, recorded at forward time: oneDNN bf16 on the CPU (the reference kernels emulate it by
// rounding their operands), cuDNN bf16 / fp16 on CUDA. On the CPU, oneDNN serves every non-empty problem when compiled in and
// selected (conv2d_cpu_impl); it fuses db into the dW pass. Empty problems (N, C or O zero) and a bias
// gradient without a weight gradient use the reference kernels, which handle them directly.
#include "core/ops/conv.h"

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/autograd.h"
#include "core/bfloat16.h"
#include "core/precision.h"
#include "core/saved_activation.h"
#include "core/cpu/conv_cpu.h"
#include "core/cpu/elementwise_cpu.h"
#if GHM_WITH_ONEDNN
#include "core/cpu/conv_onednn.h"
#endif
#if GHM_WITH_CUDA
#include "core/cuda/conv_cudnn.h"
#include "core/cuda/device_guard.h"
#include "core/cuda/elementwise_cuda.h"
#endif

namespace ghm {
namespace {

ConvCpuImpl read_conv_impl() {
  const char* env = std::getenv("GHM_CONV_IMPL");
  if (env == nullptr || *env == '\0') return GHM_WITH_ONEDNN ? ConvCpuImpl::OneDnn : ConvCpuImpl::Reference;
  const std::string_view value(env);
  if (value == "reference") return ConvCpuImpl::Reference;
  if (value == "onednn") {
    GHM_CHECK(GHM_WITH_ONEDNN, "GHM_CONV_IMPL=onednn, but this build has no oneDNN (install libdnnl-dev and "
              "configure with -DGHM_ONEDNN=ON), use GHM_CONV_IMPL=reference");
    return ConvCpuImpl::OneDnn;
  }
  GHM_FAIL("environment variable GHM_CONV_IMPL='", value, "' is not a conv2d implementation; allowed values: onednn, "
           "reference");
}

#if GHM_WITH_ONEDNN
bool use_onednn(ConvCpuImpl impl, const cpu::ConvGeometry& g) {
  return impl == ConvCpuImpl::OneDnn && g.n > 0 && g.c > 0 && g.o > 0;
}
#endif

// The reference kernels' bf16: an operand rounded to bfloat16 (nearest, ties to even) and widened
// back, so the float32 kernels then compute what oneDNN's bf16 primitives do, up to the order of
// the float32 sums. In fp32 the operand itself. `buffer` holds the rounded copy.
const float* operand_in(Precision math, const float* p, std::int64_t n, std::vector<float>& buffer) {
  if (math == Precision::F32 || p == nullptr) return p;
  buffer.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) buffer[static_cast<std::size_t>(i)] = bf16_to_float(float_to_bf16(p[i]));
  return buffer.data();
}

std::int64_t input_numel(const cpu::ConvGeometry& g) { return g.n * g.c * g.h * g.w; }
std::int64_t weight_numel(const cpu::ConvGeometry& g) { return g.o * (g.c / g.p.groups) * g.kh * g.kw; }
std::int64_t output_numel(const cpu::ConvGeometry& g) { return g.n * g.o * g.ho * g.wo; }

// x: [N,C,H,W], weight: [O,C/G,KH,KW], bias: [O] or null, y: [N,O,HO,WO]; relu: y = max(y, 0)
void forward_kernel(ConvCpuImpl impl, Precision math, const cpu::ConvGeometry& g, const float* x,
                    const float* weight, const float* bias, float* y, bool relu) {
#if GHM_WITH_ONEDNN
  if (use_onednn(impl, g)) return cpu::onednn_conv2d_forward(g, x, weight, bias, y, relu, math);
#endif
  std::vector<float> xb, wb;
  cpu::conv2d_forward(g, operand_in(math, x, input_numel(g), xb), operand_in(math, weight, weight_numel(g), wb), bias,
                      y);
  if (relu) cpu::unary_forward(UnaryOp::Relu, y, y, output_numel(g));
}

// dy: [N,O,HO,WO], weight: [O,C/G,KH,KW], dx: [N,C,H,W]
void backward_data_kernel(ConvCpuImpl impl, Precision math, const cpu::ConvGeometry& g, const float* dy,
                          const float* weight, float* dx) {
#if GHM_WITH_ONEDNN
  if (use_onednn(impl, g)) return cpu::onednn_conv2d_backward_data(g, dy, weight, dx, math);
#endif
  std::vector<float> dyb, wb;
  cpu::conv2d_backward_data(g, operand_in(math, dy, output_numel(g), dyb), operand_in(math, weight, weight_numel(g), wb),
                            dx);
}

// x: [N,C,H,W], dy: [N,O,HO,WO], dweight: [O,C/G,KH,KW] or null, dbias: [O] or null. The bias
// gradient sums dy in float32 (oneDNN's fused dbias reads the bf16 dy it was given; the reference
// rounds dy only for dW, a difference far below the test tolerances).
void backward_params_kernel(ConvCpuImpl impl, Precision math, const cpu::ConvGeometry& g, const float* x,
                            const float* dy, float* dweight, float* dbias) {
#if GHM_WITH_ONEDNN
  if (dweight != nullptr && use_onednn(impl, g))
    return cpu::onednn_conv2d_backward_weight(g, x, dy, dweight, dbias, math);
#endif
  std::vector<float> xb, dyb;
  if (dweight != nullptr)
    cpu::conv2d_backward_weight(g, operand_in(math, x, input_numel(g), xb), operand_in(math, dy, output_numel(g), dyb),
                                dweight);
  if (dbias != nullptr) cpu::conv2d_backward_bias(g, dy, dbias);
}

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
            ", weight on ", w.device(), b.defined() ? str_cat(", bias on ", b.device()) : std::string(),
            ": all operands must be on one device");
  cpu::ConvGeometry g{x.size(0), C, x.size(2), x.size(3), O, w.size(2), w.size(3), 0, 0, p};
  const std::int64_t eff_h = p.dilation_h * (g.kh - 1) + 1, eff_w = p.dilation_w * (g.kw - 1) + 1;
  GHM_CHECK(g.h + 2 * p.pad_h >= eff_h && g.w + 2 * p.pad_w >= eff_w, "conv2d: input ", x.shape(), " padded by ", p.pad_h,
            "x", p.pad_w, " is smaller than the dilated kernel ", eff_h, "x", eff_w);
  g.ho = (g.h + 2 * p.pad_h - eff_h) / p.stride_h + 1;
  g.wo = (g.w + 2 * p.pad_w - eff_w) / p.stride_w + 1;
  return g;
}

// The kernels above, or their CUDA twins, for the operands' device. Undefined tensors: no bias
// (forward), no gradient wanted (backward); x is defined whenever dweight is.

// y = conv(x, weight) + bias, then max(y, 0) when relu.
void run_forward(ConvCpuImpl impl, Precision math, const cpu::ConvGeometry& g, const Tensor& x, const Tensor& weight,
                 const Tensor& bias, Tensor& y, bool relu) {
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::conv2d_forward(g, x.device_data<float>(), weight.device_data<float>(),
                         bias.defined() ? bias.device_data<float>() : nullptr, y.device_data<float>(),
                         relu ? cuda::ConvActivation::Relu : cuda::ConvActivation::None, math);
    return;
  }
#endif
  forward_kernel(impl, math, g, x.data<float>(), weight.data<float>(), bias.defined() ? bias.data<float>() : nullptr,
                 y.data<float>(), relu);
}

// dy * [y > 0]: the gradient through the ReLU of conv2d_relu.
Tensor mask_by_relu(const Tensor& dy, const Tensor& y) {
  Tensor out = Tensor::empty(dy.shape(), DType::F32, dy.device());
#if GHM_WITH_CUDA
  if (dy.device().is_cuda()) {
    const cuda::DeviceGuard guard(dy.device().index);
    cuda::unary_backward(UnaryBackwardOp::Relu, dy.device_data<float>(), y.device_data<float>(),
                         out.device_data<float>(), dy.numel());
    return out;
  }
#endif
  cpu::unary_backward(UnaryBackwardOp::Relu, dy.data<float>(), y.data<float>(), out.data<float>(), dy.numel());
  return out;
}

void run_backward_data(ConvCpuImpl impl, Precision math, const cpu::ConvGeometry& g, const Tensor& dy, const Tensor& weight,
                       Tensor& dx) {
#if GHM_WITH_CUDA
  if (dy.device().is_cuda()) {
    const cuda::DeviceGuard guard(dy.device().index);
    cuda::conv2d_backward_data(g, dy.device_data<float>(), weight.device_data<float>(), dx.device_data<float>(), math);
    return;
  }
#endif
  backward_data_kernel(impl, math, g, dy.data<float>(), weight.data<float>(), dx.data<float>());
}

void run_backward_params(ConvCpuImpl impl, Precision math, const cpu::ConvGeometry& g, const Tensor& x, const Tensor& dy,
                         Tensor& dweight, Tensor& dbias) {
#if GHM_WITH_CUDA
  if (dy.device().is_cuda()) {
    const cuda::DeviceGuard guard(dy.device().index);
    if (dweight.defined())
      cuda::conv2d_backward_weight(g, x.device_data<float>(), dy.device_data<float>(), dweight.device_data<float>(),
                                   math);
    if (dbias.defined()) cuda::conv2d_backward_bias(g, dy.device_data<float>(), dbias.device_data<float>());
    return;
  }
#endif
  backward_params_kernel(impl, math, g, dweight.defined() ? x.data<float>() : nullptr, dy.data<float>(),
                         dweight.defined() ? dweight.data<float>() : nullptr,
                         dbias.defined() ? dbias.data<float>() : nullptr);
}

// The autocast precision (core/precision.h) this convolution runs in, checked against the device.
Precision conv_precision(ConvCpuImpl impl, Device device) {
  const Precision math = autocast_precision();
  if (math == Precision::F32) return math;
  static const bool cpu_has_bf16 = cpu_bf16_missing().empty();  // the reference kernels emulate it anywhere
  if (device.is_cuda()) return math;  // bf16 and fp16 through cuDNN
  if (math != Precision::BF16 || (impl == ConvCpuImpl::OneDnn && !cpu_has_bf16))
    check_precision(math, device, "conv2d");  // throws, saying why
  return math;
}

// conv2d, or conv2d followed by ReLU in the same pass (then backward first masks dy by y > 0).
Tensor conv2d_impl(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p, bool relu) {
  const cpu::ConvGeometry g = check_conv(x, weight, bias, p);
  const ConvCpuImpl impl = conv2d_cpu_impl();  // read in every build: a bad GHM_CONV_IMPL fails without oneDNN too
  const Device device = x.device();
  Tensor y = Tensor::empty(Shape{g.n, g.o, g.ho, g.wo}, DType::F32, device);
  const Precision math = conv_precision(impl, device);
  run_forward(impl, math, g, x, weight, bias, y, relu);
  const bool need_x = needs_grad({&x}), need_w = needs_grad({&weight}), need_b = needs_grad({&bias});
  // x and y are activations: under bf16 kept in 16 bits (core/saved_activation.h), which costs dW
  // nothing (it reads x in bf16) and keeps the mask y > 0.
  record_op(y, relu ? "conv2d_relu" : "conv2d", {&x, &weight, &bias},
            [g, impl, math, device, need_x, need_w, need_b, x_saved = save_if(need_w, x),
             w_saved = need_x ? weight.detach() : Tensor(),
             y_saved = save_if(relu && (need_x || need_w || need_b), y)](const Tensor& dy_in) {
              GHM_CHECK(dy_in.device() == device, "conv2d backward: gradient on ", dy_in.device(), " for an output on ",
                        device);
              const Tensor dy = !y_saved.defined() ? dy_in
                                : y_saved.packed() ? y_saved.relu_backward_packed(dy_in)
                                                   : mask_by_relu(dy_in, y_saved.get());
              Tensor dx, dw, db;
              if (need_x) {
                dx = Tensor::empty(Shape{g.n, g.c, g.h, g.w}, DType::F32, device);
                run_backward_data(impl, math, g, dy, w_saved, dx);
              }
              if (need_w) dw = Tensor::empty(Shape{g.o, g.c / g.p.groups, g.kh, g.kw}, DType::F32, device);
              if (need_b) db = Tensor::empty(Shape{g.o}, DType::F32, device);
              if (need_w || need_b)  // x is saved only when dW is needed; db reads dy alone
                run_backward_params(impl, math, g, x_saved.get(), dy, dw, db);
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  return conv2d_impl(x, weight, bias, p, false);
}

Tensor conv2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  return conv2d_impl(x, weight, bias, p, true);
}

ConvCpuImpl conv2d_cpu_impl() {
  static const ConvCpuImpl impl = read_conv_impl();
  return impl;
}

const char* conv2d_cpu_impl_name(ConvCpuImpl impl) {
  return impl == ConvCpuImpl::OneDnn ? "onednn" : "reference (im2col + Eigen GEMM)";
}

const char* conv2d_cpu_impl_name() { return conv2d_cpu_impl_name(conv2d_cpu_impl()); }

}  // namespace ghm
