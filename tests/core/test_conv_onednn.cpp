// The oneDNN convolution kernels (core/cpu/conv_onednn.h) against the im2col + Eigen reference
// (core/cpu/conv_cpu.h) on random inputs. Built only when GHM_WITH_ONEDNN (tests/CMakeLists.txt).
//
// Each case runs forward, backward-data and backward-weight (with the bias gradient fused when the
// case has a bias) on both sides and compares the normalised error max|a - b| / max(1, max|ref|).
// Tolerance 2e-5, and why: both sides are float32 but add up their K = C/G*KH*KW (forward, dx) or
// N*HO*WO (dW, db) products in different orders (oneDNN's blocked JIT or GEMM kernels vs Eigen's
// GEMM blocks; the reference bias sum is in double). The largest errors seen on these cases are
// 8e-7 (y), 7e-7 (dx), 1.1e-6 (dW), 9e-7 (db) (the test prints them), so 2e-5 is ~20x above the
// rounding noise and far below what a wrong index or a missed term produces (>1e-2).
//
// Every output is filled with a poison value first, so an element a kernel forgets to write fails.
// The geometries cover odd sizes, stride 2, dilation 2, unequal padding and strides per axis, groups
// 2 and depthwise, 1x1 with and without stride (oneDNN's plain-layout GEMM path), a 7x7 stem, channel
// counts that are and are not multiples of oneDNN's 16-channel blocks, N = 1 and 3, and a 1x1 output.
// All cases run twice, the second round after every other geometry has run in between, so cached
// plans and the shared workspace are used again at a different size.
// Two more cases: conv2d's backward through the dispatcher for every subset of gradients, and the
// error a geometry oneDNN rejects produces.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/cpu/conv_onednn.h"
#include "core/ops/conv.h"
#include "core/random.h"
#include "core/tensor.h"

using namespace ghm;

namespace {

constexpr double kTolerance = 2e-5;
constexpr float kPoison = 1e30f;

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

cpu::ConvGeometry geometry(const ConvCase& c) {
  const Conv2dParams& p = c.p;
  const std::int64_t ho = (c.x[2] + 2 * p.pad_h - p.dilation_h * (c.w[2] - 1) - 1) / p.stride_h + 1;
  const std::int64_t wo = (c.x[3] + 2 * p.pad_w - p.dilation_w * (c.w[3] - 1) - 1) / p.stride_w + 1;
  return {c.x[0], c.x[1], c.x[2], c.x[3], c.w[0], c.w[2], c.w[3], ho, wo, p};
}

Tensor poisoned(const Shape& shape) { return Tensor::full(shape, kPoison); }

// max|a - ref| / max(1, max|ref|) over all elements.
double normalised_error(const Tensor& a, const Tensor& ref) {
  REQUIRE(a.shape() == ref.shape());
  const float* pa = a.data<float>();
  const float* pr = ref.data<float>();
  double max_err = 0, max_ref = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    max_err = std::max(max_err, std::abs(static_cast<double>(pa[i]) - pr[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(pr[i])));
  }
  return max_err / std::max(1.0, max_ref);
}

struct MaxErrors {
  double y = 0, dx = 0, dw = 0, db = 0;
};

void check_case(const ConvCase& c, Generator& gen, MaxErrors& worst) {
  CAPTURE(c.name);
  const cpu::ConvGeometry g = geometry(c);
  const Shape y_shape{g.n, g.o, g.ho, g.wo};
  const Tensor x = Tensor::normal(c.x, 0, 1, gen);
  const Tensor w = Tensor::normal(c.w, 0, 0.2f, gen);
  const Tensor b = c.bias ? Tensor::normal(Shape{g.o}, 0, 1, gen) : Tensor();
  const Tensor dy = Tensor::normal(y_shape, 0, 1, gen);
  const float* bias = c.bias ? b.data<float>() : nullptr;

  Tensor y_ref = poisoned(y_shape), y = poisoned(y_shape);
  cpu::conv2d_forward(g, x.data<float>(), w.data<float>(), bias, y_ref.data<float>());
  cpu::onednn_conv2d_forward(g, x.data<float>(), w.data<float>(), bias, y.data<float>());
  const double e_y = normalised_error(y, y_ref);
  CHECK(e_y <= kTolerance);

  Tensor dx_ref = poisoned(c.x), dx = poisoned(c.x);
  cpu::conv2d_backward_data(g, dy.data<float>(), w.data<float>(), dx_ref.data<float>());
  cpu::onednn_conv2d_backward_data(g, dy.data<float>(), w.data<float>(), dx.data<float>());
  const double e_dx = normalised_error(dx, dx_ref);
  CHECK(e_dx <= kTolerance);

  Tensor dw_ref = poisoned(c.w), dw = poisoned(c.w);
  Tensor db_ref = poisoned(Shape{g.o}), db = poisoned(Shape{g.o});
  cpu::conv2d_backward_weight(g, x.data<float>(), dy.data<float>(), dw_ref.data<float>());
  cpu::conv2d_backward_bias(g, dy.data<float>(), db_ref.data<float>());
  cpu::onednn_conv2d_backward_weight(g, x.data<float>(), dy.data<float>(), dw.data<float>(),
                                     c.bias ? db.data<float>() : nullptr);
  const double e_dw = normalised_error(dw, dw_ref);
  CHECK(e_dw <= kTolerance);
  if (c.bias) {
    const double e_db = normalised_error(db, db_ref);
    CHECK(e_db <= kTolerance);
    worst.db = std::max(worst.db, e_db);
  } else {
    CHECK(db.data<float>()[0] == kPoison);  // no bias requested: dbias left alone
  }
  worst.y = std::max(worst.y, e_y);
  worst.dx = std::max(worst.dx, e_dx);
  worst.dw = std::max(worst.dw, e_dw);
}

}  // namespace

TEST_CASE("conv onednn: forward, backward data and backward weight+bias match the Eigen reference") {
  using P = Conv2dParams;
  const std::vector<ConvCase> cases = {
      {"3x3 s1 p1 odd sizes, N=1", {1, 5, 11, 9}, {7, 5, 3, 3}, P::square(1, 1), true},
      {"3x3 s2 p1 odd sizes, N=3", {3, 4, 13, 10}, {6, 4, 3, 3}, P::square(2, 1), false},
      {"3x3 dilation 2", {2, 3, 9, 12}, {5, 3, 3, 3}, P::square(1, 2, 2), true},
      {"3x5 pad 2x0, stride 1x2", {1, 3, 8, 11}, {4, 3, 3, 5}, P{1, 2, 2, 0, 1, 1, 1}, true},
      {"3x3 pad 0x1, dilation 2x1", {3, 2, 10, 7}, {3, 2, 3, 3}, P{1, 1, 0, 1, 2, 1, 1}, false},
      {"groups 2", {2, 6, 7, 7}, {4, 3, 3, 3}, P::square(1, 1, 1, 2), true},
      {"groups 2, 16-channel blocks", {1, 64, 9, 9}, {96, 32, 3, 3}, P::square(1, 1, 1, 2), false},
      {"depthwise", {3, 8, 9, 10}, {8, 1, 3, 3}, P::square(1, 1, 1, 8), false},
      {"depthwise stride 2", {1, 32, 15, 15}, {32, 1, 3, 3}, P::square(2, 1, 1, 32), true},
      {"1x1", {3, 7, 5, 6}, {9, 7, 1, 1}, P::square(1, 0), true},
      {"1x1 stride 2", {1, 20, 9, 7}, {24, 20, 1, 1}, P::square(2, 0), false},
      {"1x1 groups 2", {2, 8, 6, 6}, {6, 4, 1, 1}, P::square(1, 0, 1, 2), true},
      {"1x1 wide", {2, 256, 8, 8}, {64, 256, 1, 1}, P::square(1, 0), true},
      {"7x7 s2 p3 stem", {2, 3, 37, 41}, {16, 3, 7, 7}, P::square(2, 3), false},
      {"3x3 channels 24 -> 40 (block tails)", {3, 24, 12, 12}, {40, 24, 3, 3}, P::square(1, 1), true},
      {"3x3 channels 64 -> 64", {2, 64, 16, 16}, {64, 64, 3, 3}, P::square(1, 1), true},
      {"3x3 channels 64 -> 64, no bias", {2, 64, 16, 16}, {64, 64, 3, 3}, P::square(1, 1), false},
      {"3x3 s2 channels 48 -> 32", {1, 48, 17, 17}, {32, 48, 3, 3}, P::square(2, 1), false},
      {"1x1 output (3x3 on 3x3, p0)", {3, 16, 3, 3}, {20, 16, 3, 3}, P::square(1, 0), true},
      {"1x1 output (7x7 s2 on 6x6, p1)", {1, 5, 6, 6}, {3, 5, 7, 7}, P::square(2, 1), false},
  };
  Generator gen(11);
  MaxErrors worst;
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    for (const ConvCase& c : cases) check_case(c, gen, worst);
  }
  // Same geometry back to back (a cache hit on the very next call).
  for (int repeat = 0; repeat < 3; ++repeat) check_case(cases[15], gen, worst);
  MESSAGE("largest normalised error vs reference: y ", worst.y, ", dx ", worst.dx, ", dw ", worst.dw, ", db ",
          worst.db, " (tolerance ", kTolerance, ")");
}

TEST_CASE("conv onednn: conv2d gives the reference gradients for every subset of x, W, b that needs one") {
  // The backward closure fuses db into the dW pass when both are needed and falls back to the
  // reference bias sum when only db is; this covers each combination through the public op, with
  // whichever implementation GHM_CONV_IMPL selects.
  Generator gen(12);
  for (const ConvCase& c : {ConvCase{"3x3", {2, 20, 9, 8}, {24, 20, 3, 3}, Conv2dParams::square(1, 1), true},
                            ConvCase{"1x1", {2, 16, 5, 7}, {8, 16, 1, 1}, Conv2dParams::square(1, 0), true}}) {
    const cpu::ConvGeometry g = geometry(c);
    const Tensor x0 = Tensor::normal(c.x, 0, 1, gen), w0 = Tensor::normal(c.w, 0, 0.2f, gen);
    const Tensor b0 = Tensor::normal(Shape{g.o}, 0, 1, gen);
    const Tensor dy = Tensor::normal(Shape{g.n, g.o, g.ho, g.wo}, 0, 1, gen);
    Tensor dx_ref = Tensor::empty(c.x), dw_ref = Tensor::empty(c.w), db_ref = Tensor::empty(Shape{g.o});
    cpu::conv2d_backward_data(g, dy.data<float>(), w0.data<float>(), dx_ref.data<float>());
    cpu::conv2d_backward_weight(g, x0.data<float>(), dy.data<float>(), dw_ref.data<float>());
    cpu::conv2d_backward_bias(g, dy.data<float>(), db_ref.data<float>());
    for (int mask = 1; mask < 8; ++mask) {
      CAPTURE(c.name);
      CAPTURE(mask);
      Tensor x = x0.clone(), w = w0.clone(), b = b0.clone();
      x.set_requires_grad((mask & 1) != 0);
      w.set_requires_grad((mask & 2) != 0);
      b.set_requires_grad((mask & 4) != 0);
      conv2d(x, w, b, c.p).backward(dy);
      if (mask & 1) CHECK(normalised_error(x.grad(), dx_ref) <= kTolerance);
      if (mask & 2) CHECK(normalised_error(w.grad(), dw_ref) <= kTolerance);
      if (mask & 4) CHECK(normalised_error(b.grad(), db_ref) <= kTolerance);
      CHECK(x.grad().defined() == ((mask & 1) != 0));
      CHECK(w.grad().defined() == ((mask & 2) != 0));
      CHECK(b.grad().defined() == ((mask & 4) != 0));
    }
  }
}

TEST_CASE("conv onednn: a geometry oneDNN rejects reports the pass, the shapes and the status") {
  // Output size 4x4 where the convolution produces 5x5: oneDNN refuses the descriptor.
  const cpu::ConvGeometry g{1, 2, 7, 7, 3, 3, 3, 4, 4, Conv2dParams::square(1, 0)};
  std::vector<float> x(2 * 7 * 7, 1.0f), w(3 * 2 * 3 * 3, 1.0f), y(3 * 4 * 4);
  CHECK_THROWS_WITH_AS(cpu::onednn_conv2d_forward(g, x.data(), w.data(), nullptr, y.data()),
                       doctest::Contains("oneDNN conv2d forward failed for input [1, 2, 7, 7], weight [3, 2, 3, 3], "
                                         "output [1, 3, 4, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(cpu::onednn_conv2d_backward_data(g, y.data(), w.data(), x.data()),
                       doctest::Contains("invalid_arguments"), Error);
}
