// Backend consistency for conv2d and conv2d_relu (cuDNN, core/cuda/conv_cudnn.h): the output and the
// gradients of the input, the weight and the bias on CUDA against the CPU with the same random
// inputs, for 1x1, 3x3, 7x7/2 (the stem), dilation, asymmetric strides, groups 2 and 32
// (ResNeXt-like), with and without a bias, odd sizes, N = 1 and 3, a single output pixel and empty
// problems; the same bits on every run; and TF32 tensor cores within their rounding. Run only where
// a GPU is present.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/cuda/math_mode.h"
#include "core/ops/conv.h"
#include "core/random.h"
#include "core/tensor.h"
#include "compare.h"

using namespace ghm;
using ghm::testing::normalised_error;

namespace {

const Device kGpu = Device::cuda(0);

// float32 on both sides, summed in different orders (and, on cuDNN, possibly through FFT or Winograd
// transforms): sums of at most a few thousand products, each side within a few 1e-7 relative.
constexpr double kFloat32Tolerance = 1e-5;
// TF32 rounds the inputs of every product to a 10-bit mantissa (relative 2^-11 ~ 5e-4 each); over
// random-sign sums the normalised error stays well below 1e-2.
constexpr double kTf32Tolerance = 1e-2;

struct ConvCase {
  std::string name;
  Shape x, w;  // [N, C, H, W], [O, C/G, KH, KW]
  Conv2dParams p;
  bool bias;
};

Conv2dParams params(int stride_h, int stride_w, int pad_h, int pad_w, int dilation = 1, int groups = 1) {
  return {stride_h, stride_w, pad_h, pad_w, dilation, dilation, groups};
}

const std::vector<ConvCase>& cases() {
  static const std::vector<ConvCase> all = {
      {"1x1, N=3", {3, 5, 7, 9}, {4, 5, 1, 1}, Conv2dParams::square(1, 0), true},
      {"1x1 stride 2 (downsample), odd size", {3, 16, 9, 11}, {32, 16, 1, 1}, Conv2dParams::square(2, 0), false},
      {"3x3 pad 1, N=1, no bias", {1, 8, 13, 11}, {6, 8, 3, 3}, Conv2dParams::square(1, 1), false},
      {"3x3 pad 1, larger", {2, 32, 33, 65}, {48, 32, 3, 3}, Conv2dParams::square(1, 1), true},
      {"7x7 stride 2 pad 3 (stem)", {2, 3, 33, 31}, {8, 3, 7, 7}, Conv2dParams::square(2, 3), false},
      {"3x3 dilation 2 pad 2", {3, 4, 15, 17}, {5, 4, 3, 3}, Conv2dParams::square(1, 2, 2), true},
      {"3x1 stride 2x1 pad 1x0", {2, 3, 12, 9}, {4, 3, 3, 1}, params(2, 1, 1, 0), true},
      {"groups 2", {2, 6, 9, 10}, {4, 3, 3, 3}, Conv2dParams::square(1, 1, 1, 2), true},
      {"groups 32 (ResNeXt), stride 2", {2, 64, 11, 9}, {64, 2, 3, 3}, Conv2dParams::square(2, 1, 1, 32), false},
      {"groups 32 (ResNeXt), stride 1, N=3", {3, 128, 7, 7}, {128, 4, 3, 3}, Conv2dParams::square(1, 1, 1, 32), true},
      {"a single output pixel", {3, 5, 3, 3}, {7, 5, 3, 3}, Conv2dParams::square(1, 0), true},
      {"a single element everywhere", {1, 1, 1, 1}, {1, 1, 1, 1}, Conv2dParams::square(1, 0), true},
      {"empty batch (N=0)", {0, 3, 5, 5}, {4, 3, 3, 3}, Conv2dParams::square(1, 1), true},
      {"no input channels (C=0)", {2, 0, 5, 5}, {4, 0, 3, 3}, Conv2dParams::square(1, 1), true},
      {"no output channels (O=0)", {2, 3, 5, 5}, {0, 3, 3, 3}, Conv2dParams::square(1, 1), true},
  };
  return all;
}

// The output and the gradients of L = sum(y * r) with respect to x, weight and bias, on the device
// the convolution ran on.
struct ConvResult {
  Tensor y, dx, dw, db;
};

struct ConvInputs {
  Tensor x, w, b, r;  // CPU; b undefined without a bias; r has y's shape
};

// Where |conv(x, w) + b| is below this, r is 0: the two backends' rounding (TF32's included, about
// 1e-3 here) could put such an output on different sides of 0, and conv2d_relu's gradient mask
// [y > 0] would then differ by a whole r value. Outputs have a standard deviation of 1 to 1.5.
constexpr float kReluMargin = 1e-2f;

ConvInputs make_inputs(const ConvCase& c, std::uint64_t seed) {
  Generator gen(seed);
  ConvInputs in;
  in.x = Tensor::normal(c.x, 0, 1, gen);
  const std::int64_t fan_in = std::max<std::int64_t>(c.w[1] * c.w[2] * c.w[3], 1);
  in.w = Tensor::normal(c.w, 0, 1.0f / std::sqrt(static_cast<float>(fan_in)), gen);
  if (c.bias) in.b = Tensor::normal(Shape{c.w[0]}, 0, 1, gen);
  const Tensor y = conv2d(in.x, in.w, in.b, c.p);
  const std::vector<float> y_values = y.to_vector<float>();
  std::vector<float> r = Tensor::normal(y.shape(), 0, 1, gen).to_vector<float>();
  for (std::size_t i = 0; i < r.size(); ++i)
    if (std::abs(y_values[i]) < kReluMargin) r[i] = 0.0f;
  in.r = Tensor::from_vector(r, y.shape());
  return in;
}

// A fresh leaf with t's values on `device` (never t itself: each run has its own gradients).
Tensor leaf(const Tensor& t, Device device) {
  Tensor out = device.is_cpu() ? t.clone() : t.to(device);
  out.set_requires_grad(true);
  return out;
}

Tensor to_cpu(const Tensor& t) { return t.defined() ? t.to(Device::cpu()) : Tensor(); }

ConvResult run(const ConvCase& c, const ConvInputs& in, Device device, bool relu) {
  const Tensor x = leaf(in.x, device), w = leaf(in.w, device), b = c.bias ? leaf(in.b, device) : Tensor();
  const Tensor y = relu ? conv2d_relu(x, w, b, c.p) : conv2d(x, w, b, c.p);
  REQUIRE(y.device() == device);
  y.backward(in.r.to(device));
  return {y, x.grad(), w.grad(), c.bias ? b.grad() : Tensor()};
}

void check_close(const ConvResult& gpu, const ConvResult& cpu, double tolerance) {
  CHECK(normalised_error(gpu.y, cpu.y) <= tolerance);
  CHECK(normalised_error(gpu.dx, cpu.dx) <= tolerance);
  CHECK(normalised_error(gpu.dw, cpu.dw) <= tolerance);
  REQUIRE(gpu.db.defined() == cpu.db.defined());
  if (cpu.db.defined()) CHECK(normalised_error(gpu.db, cpu.db) <= tolerance);
}

// Bit for bit.
void check_identical(const Tensor& a, const Tensor& b) {
  REQUIRE(a.defined() == b.defined());
  if (!a.defined()) return;
  const std::vector<float> va = to_cpu(a).to_vector<float>(), vb = to_cpu(b).to_vector<float>();
  REQUIRE(va.size() == vb.size());
  if (!va.empty()) CHECK(std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0);
}

const char* activation_name(bool relu) { return relu ? "conv2d_relu" : "conv2d"; }

}  // namespace

TEST_CASE("cuda conv2d and conv2d_relu: output and every gradient agree with the CPU in float32") {
  const cuda::Tf32Scope full_float(false);
  std::uint64_t seed = 100;
  for (const ConvCase& c : cases()) {
    for (const bool relu : {false, true}) {
      INFO(activation_name(relu) << ", " << c.name << ": x " << c.x << ", weight " << c.w);
      const ConvInputs in = make_inputs(c, ++seed);
      const ConvResult cpu = run(c, in, Device::cpu(), relu);
      const ConvResult gpu = run(c, in, kGpu, relu);
      check_close(gpu, cpu, kFloat32Tolerance);
    }
  }
}

TEST_CASE("cuda conv2d: the same bits on every run (deterministic algorithms only)") {
  const cuda::Tf32Scope full_float(false);
  for (const ConvCase& c : cases()) {
    INFO(c.name << ": x " << c.x << ", weight " << c.w);
    const ConvInputs in = make_inputs(c, 7);
    const ConvResult first = run(c, in, kGpu, false);
    for (int repeat = 0; repeat < 3; ++repeat) {
      const ConvResult again = run(c, in, kGpu, false);
      check_identical(again.y, first.y);
      check_identical(again.dx, first.dx);
      check_identical(again.dw, first.dw);
      check_identical(again.db, first.db);
    }
  }
}

TEST_CASE("cuda conv2d with TF32 allowed: within TF32 rounding of the CPU, and deterministic") {
  const cuda::Tf32Scope tf32(true);
  std::uint64_t seed = 300;
  for (const ConvCase& c : cases()) {
    for (const bool relu : {false, true}) {
      INFO(activation_name(relu) << ", " << c.name << ": x " << c.x << ", weight " << c.w);
      const ConvInputs in = make_inputs(c, ++seed);
      const ConvResult cpu = run(c, in, Device::cpu(), relu);
      const ConvResult gpu = run(c, in, kGpu, relu);
      check_close(gpu, cpu, kTf32Tolerance);
      const ConvResult again = run(c, in, kGpu, relu);
      check_identical(again.y, gpu.y);
      check_identical(again.dx, gpu.dx);
      check_identical(again.dw, gpu.dw);
      check_identical(again.db, gpu.db);
    }
  }
}

TEST_CASE("cuda conv2d: operands on different devices are a clear error") {
  Generator gen(5);
  const Tensor x = Tensor::normal(Shape{1, 3, 5, 5}, 0, 1, gen), w = Tensor::normal(Shape{4, 3, 3, 3}, 0, 1, gen);
  const Tensor b = Tensor::normal(Shape{4}, 0, 1, gen);
  const auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  const std::string weight_on_cpu = message([&] { conv2d(x.to(kGpu), w, b.to(kGpu), Conv2dParams::square(1, 1)); });
  CHECK(weight_on_cpu.find("all operands must be on one device") != std::string::npos);
  CHECK(weight_on_cpu.find("cuda:0") != std::string::npos);
  const std::string bias_on_cpu = message([&] { conv2d(x.to(kGpu), w.to(kGpu), b, Conv2dParams::square(1, 1)); });
  CHECK(bias_on_cpu.find("bias on cpu") != std::string::npos);
}
