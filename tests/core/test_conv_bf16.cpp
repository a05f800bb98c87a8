// Convolutions in bf16 (core/precision.h): the oneDNN bf16 kernels and conv2d under an
// AutocastScope, against float32 arithmetic, with tolerances derived per element from bf16's
// 8-bit mantissa and the length of each sum rather than a loose constant.
//
// Let u = 2^-8 (bf16's unit roundoff: 7 stored mantissa bits plus the implicit one), e = 2^-24
// (float32's), and for one output element let A = sum over its K terms of |a_k| |b_k| (the two
// operands the pass reads: x and W forward, dy and W backward-data, x and dy backward-weight).
//   * bf16 against float32 on the same float32 operands. Rounding each operand to bf16 changes a
//     product by at most (2u + u^2) |a b|; both sides then add K products in float32, each with an
//     error of at most g_K = K e / (1 - K e) times A. So |y_bf16 - y_f32| <= (2u + u^2 + 2 g_K(1 + u)^2) A.
//   * oneDNN bf16 against the float32 reference kernels on operands rounded to bf16 first. A
//     product of two bf16 values is exact in float32 (8 + 8 significant bits), so only the order of
//     the float32 sums differs: |y_onednn - y_rounded| <= 2 g_K A.
// A is computed by the float32 reference on |a|, |b| and scaled by (1 + 2 g_K) for its own rounding.
// K is C/G * KH * KW forward, O/G * KH * KW backward-data (an upper bound: border elements have
// fewer terms), N * HO * WO backward-weight. Every bound is checked element by element; the test
// prints how close the worst element came (as a fraction of its bound).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/bfloat16.h"
#include "core/check.h"
#include "core/cpu/conv_cpu.h"
#include "core/ops/conv.h"
#include "core/precision.h"
#include "cpu_bf16.h"
#include "core/random.h"
#include "core/tensor.h"
#if GHM_WITH_ONEDNN
#include "core/cpu/conv_onednn.h"
#endif

using namespace ghm;

namespace {

constexpr double kU = 1.0 / 256;              // bf16 unit roundoff, 2^-8
constexpr double kE = 1.0 / (1 << 24);        // float32 unit roundoff, 2^-24
double sum_error(double k) { return k * kE / (1 - k * kE); }  // g_K

// The bound factors of the top comment, each with A's own rounding (1 + 2 g_K). order_only's sums
// are of the rounded operands, whose magnitudes exceed A's by at most (1 + u)^2.
double order_only(double k) { return 2 * sum_error(k) * (1 + kU) * (1 + kU) * (1 + 2 * sum_error(k)); }
double bf16_vs_f32(double k) {
  return (2 * kU + kU * kU + 2 * sum_error(k) * (1 + kU) * (1 + kU)) * (1 + 2 * sum_error(k));
}

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
};

cpu::ConvGeometry geometry(const ConvCase& c) {
  const Conv2dParams& p = c.p;
  const std::int64_t ho = (c.x[2] + 2 * p.pad_h - p.dilation_h * (c.w[2] - 1) - 1) / p.stride_h + 1;
  const std::int64_t wo = (c.x[3] + 2 * p.pad_w - p.dilation_w * (c.w[3] - 1) - 1) / p.stride_w + 1;
  return {c.x[0], c.x[1], c.x[2], c.x[3], c.w[0], c.w[2], c.w[3], ho, wo, p};
}

Tensor rounded(const Tensor& t) {
  Tensor r = t.clone();
  for (float& v : std::span(r.data<float>(), static_cast<std::size_t>(r.numel()))) v = bf16_to_float(float_to_bf16(v));
  return r;
}

Tensor absolute(const Tensor& t) {
  Tensor r = t.clone();
  for (float& v : std::span(r.data<float>(), static_cast<std::size_t>(r.numel()))) v = std::abs(v);
  return r;
}

// The three passes of the reference kernels: y (forward), dx, dW.
struct Passes {
  Tensor y, dx, dw;
};

Passes reference(const cpu::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& dy) {
  Passes r{Tensor::empty(dy.shape()), Tensor::empty(x.shape()), Tensor::empty(w.shape())};
  cpu::conv2d_forward(g, x.data<float>(), w.data<float>(), nullptr, r.y.data<float>());
  cpu::conv2d_backward_data(g, dy.data<float>(), w.data<float>(), r.dx.data<float>());
  cpu::conv2d_backward_weight(g, x.data<float>(), dy.data<float>(), r.dw.data<float>());
  return r;
}

// The sum lengths K of the three passes (top comment).
struct Lengths {
  double y, dx, dw;
};

Lengths lengths(const cpu::ConvGeometry& g) {
  return {static_cast<double>(g.c / g.p.groups * g.kh * g.kw), static_cast<double>(g.o / g.p.groups * g.kh * g.kw),
          static_cast<double>(g.n * g.ho * g.wo)};
}

// max over elements of |a - b| / (factor(K) * A): at most 1 when every element is within its bound.
double worst_fraction(const Tensor& a, const Tensor& b, const Tensor& magnitude, double factor) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double bound = factor * magnitude.data<float>()[i];
    const double err = std::abs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]);
    if (err == 0) continue;
    worst = std::max(worst, bound > 0 ? err / bound : 1e30);
  }
  return worst;
}

const std::vector<ConvCase>& cases() {
  using P = Conv2dParams;
  static const std::vector<ConvCase> all = {
      {"3x3 s1 p1, 16-channel blocks", {2, 32, 12, 11}, {48, 32, 3, 3}, P::square(1, 1)},
      {"3x3 s2 p1, block tails", {3, 24, 13, 10}, {40, 24, 3, 3}, P::square(2, 1)},
      {"1x1 (plain forward, blocked backward)", {2, 64, 9, 7}, {32, 64, 1, 1}, P::square(1, 0)},
      {"1x1 stride 2", {1, 20, 9, 7}, {24, 20, 1, 1}, P::square(2, 0)},
      {"7x7 s2 p3 stem", {2, 3, 37, 41}, {16, 3, 7, 7}, P::square(2, 3)},
      {"groups 2", {2, 32, 7, 7}, {32, 16, 3, 3}, P::square(1, 1, 1, 2)},
      {"long sums: 256 channels", {1, 256, 8, 8}, {64, 256, 3, 3}, P::square(1, 1)},
  };
  return all;
}

}  // namespace

#if GHM_WITH_ONEDNN
TEST_CASE("conv bf16: oneDNN's bf16 passes equal the float32 kernels on bf16-rounded operands up to sum order") {
  if (testing::skip_without_cpu_bf16()) return;
  Generator gen(31);
  double worst_y = 0, worst_dx = 0, worst_dw = 0, worst_vs_f32 = 0;
  for (const ConvCase& c : cases()) {
    CAPTURE(c.name);
    const cpu::ConvGeometry g = geometry(c);
    const Tensor x = Tensor::normal(c.x, 0, 1, gen), w = Tensor::normal(c.w, 0, 0.2f, gen);
    const Tensor dy = Tensor::normal(Shape{g.n, g.o, g.ho, g.wo}, 0, 1, gen);
    Passes bf{Tensor::full(dy.shape(), 1e30), Tensor::full(x.shape(), 1e30), Tensor::full(w.shape(), 1e30)};
    cpu::onednn_conv2d_forward(g, x.data<float>(), w.data<float>(), nullptr, bf.y.data<float>(), false,
                               Precision::BF16);
    cpu::onednn_conv2d_backward_data(g, dy.data<float>(), w.data<float>(), bf.dx.data<float>(), Precision::BF16);
    cpu::onednn_conv2d_backward_weight(g, x.data<float>(), dy.data<float>(), bf.dw.data<float>(), nullptr,
                                       Precision::BF16);
    const Passes on_rounded = reference(g, rounded(x), rounded(w), rounded(dy));
    const Passes f32 = reference(g, x, w, dy);
    const Passes mag = reference(g, absolute(x), absolute(w), absolute(dy));
    const Lengths k = lengths(g);
    const double fy = worst_fraction(bf.y, on_rounded.y, mag.y, order_only(k.y));
    const double fdx = worst_fraction(bf.dx, on_rounded.dx, mag.dx, order_only(k.dx));
    const double fdw = worst_fraction(bf.dw, on_rounded.dw, mag.dw, order_only(k.dw));
    CHECK(fy <= 1);
    CHECK(fdx <= 1);
    CHECK(fdw <= 1);
    const double f = std::max({worst_fraction(bf.y, f32.y, mag.y, bf16_vs_f32(k.y)),
                               worst_fraction(bf.dx, f32.dx, mag.dx, bf16_vs_f32(k.dx)),
                               worst_fraction(bf.dw, f32.dw, mag.dw, bf16_vs_f32(k.dw))});
    CHECK(f <= 1);
    worst_y = std::max(worst_y, fy);
    worst_dx = std::max(worst_dx, fdx);
    worst_dw = std::max(worst_dw, fdw);
    worst_vs_f32 = std::max(worst_vs_f32, f);
  }
  MESSAGE("worst element as a fraction of its bound: against rounded operands y ", worst_y, ", dx ", worst_dx,
          ", dW ", worst_dw, "; against float32 ", worst_vs_f32);
  // The bf16 path really rounds: on these inputs it differs from float32 by far more than float32's noise.
  const ConvCase& c = cases().front();
  const cpu::ConvGeometry g = geometry(c);
  const Tensor x = Tensor::normal(c.x, 0, 1, gen), w = Tensor::normal(c.w, 0, 0.2f, gen);
  Tensor y = Tensor::empty(Shape{g.n, g.o, g.ho, g.wo});
  cpu::onednn_conv2d_forward(g, x.data<float>(), w.data<float>(), nullptr, y.data<float>(), false, Precision::BF16);
  const Tensor mag = reference(g, absolute(x), absolute(w), Tensor::zeros(y.shape())).y;
  const Tensor f32 = reference(g, x, w, Tensor::zeros(y.shape())).y;
  CHECK(worst_fraction(y, f32, mag, 2 * sum_error(lengths(g).y)) > 1);
}
#endif

TEST_CASE("conv bf16: conv2d under an AutocastScope runs forward and backward in bf16, and only there") {
  if (testing::skip_without_bf16_convolutions()) return;
  Generator gen(32);
  const ConvCase& c = cases()[1];
  const cpu::ConvGeometry g = geometry(c);
  const Tensor x0 = Tensor::normal(c.x, 0, 1, gen), w0 = Tensor::normal(c.w, 0, 0.2f, gen);
  const Tensor b0 = Tensor::normal(Shape{g.o}, 0, 1, gen);
  const Tensor dy = Tensor::normal(Shape{g.n, g.o, g.ho, g.wo}, 0, 1, gen);
  const auto run = [&](Precision p) {
    Tensor x = x0.clone(), w = w0.clone(), b = b0.clone();
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    Tensor y;
    {
      const AutocastScope scope(p);
      y = conv2d(x, w, b, c.p);
    }
    y.backward(dy);  // outside the scope: the backward keeps its forward's precision
    return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad()};
  };
  CHECK(autocast_precision() == Precision::F32);
  const std::vector<Tensor> bf = run(Precision::BF16), f32 = run(Precision::F32);
  CHECK(autocast_precision() == Precision::F32);
  Passes mag = reference(g, absolute(x0), absolute(w0), absolute(dy));
  const Lengths k = lengths(g);
  for (std::int64_t i = 0; i < mag.y.numel(); ++i)  // y includes the float32 bias: |b| joins A, one term more
    mag.y.data<float>()[i] += std::abs(b0.data<float>()[(i / (g.ho * g.wo)) % g.o]);
  CHECK(worst_fraction(bf[0], f32[0], mag.y, bf16_vs_f32(k.y + 1)) <= 1);
  CHECK(worst_fraction(bf[1], f32[1], mag.dx, bf16_vs_f32(k.dx)) <= 1);
  CHECK(worst_fraction(bf[2], f32[2], mag.dw, bf16_vs_f32(k.dw)) <= 1);
  // Different from float32 (the scope took effect) in the outputs and both backward passes.
  CHECK(worst_fraction(bf[0], f32[0], mag.y, 2 * sum_error(k.y + 1)) > 1);
  CHECK(worst_fraction(bf[1], f32[1], mag.dx, 2 * sum_error(k.dx)) > 1);
  CHECK(worst_fraction(bf[2], f32[2], mag.dw, 2 * sum_error(k.dw)) > 1);
  // The same bf16 run twice gives the same bits (plans are cached, kernels deterministic).
  const std::vector<Tensor> again = run(Precision::BF16);
  for (std::size_t i = 0; i < bf.size(); ++i) {
    REQUIRE(again[i].shape() == bf[i].shape());
    CHECK(std::equal(again[i].data<float>(), again[i].data<float>() + again[i].numel(), bf[i].data<float>()));
  }
}

TEST_CASE("precision: names, parsing, nested scopes and the checks per device") {
  CHECK(std::string(precision_name(Precision::BF16)) == "bf16");
  CHECK(parse_precision("fp16", "x") == Precision::F16);
  CHECK_THROWS_WITH_AS(parse_precision("half", "train.precision"),
                       doctest::Contains("train.precision: 'half' is not a precision; allowed values: fp32, bf16, fp16"),
                       Error);
  {
    const AutocastScope outer(Precision::BF16);
    {
      const AutocastScope inner(Precision::F32);
      CHECK(autocast_precision() == Precision::F32);
    }
    CHECK(autocast_precision() == Precision::BF16);
  }
  CHECK(autocast_precision() == Precision::F32);
  check_precision(Precision::F32, Device::cpu(), "any");
  check_precision(Precision::F32, Device::cuda(0), "any");
  CHECK_THROWS_WITH_AS(check_precision(Precision::F16, Device::cpu(), "test.precision"),
                       doctest::Contains("test.precision: fp16 runs on CUDA only"), Error);
  check_precision(Precision::BF16, Device::cuda(0), "train.precision");
  check_precision(Precision::F16, Device::cuda(0), "train.precision");
  if (cpu_bf16_missing().empty()) check_precision(Precision::BF16, Device::cpu(), "train.precision");
  else
    CHECK_THROWS_WITH_AS(check_precision(Precision::BF16, Device::cpu(), "train.precision"),
                         doctest::Contains("(avx512_bf16), which this CPU lacks"), Error);
  // conv2d refuses fp16 on the CPU with the same words.
  Generator gen(33);
  const Tensor x = Tensor::normal(Shape{1, 2, 5, 5}, 0, 1, gen), w = Tensor::normal(Shape{3, 2, 3, 3}, 0, 1, gen);
  const AutocastScope scope(Precision::F16);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), Conv2dParams::square(1, 1)),
                       doctest::Contains("conv2d: fp16 runs on CUDA only"), Error);
}
