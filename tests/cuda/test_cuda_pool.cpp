// Backend consistency for max pooling and nearest resizing on CUDA: forward and backward, bit for
// bit against the CPU. The forward passes only select and move values; the backward passes add
// each input's gradient terms from 0 in the CPU's order (row-major over the outputs), so they are
// exact too. Inputs with many ties, NaN and -inf; the ResNet stem pooling, kernels larger than the
// stride, odd sizes, planes larger than a block, 1x1 inputs and empty batches; resizing by 2,
// by non-integer ratios and to 1x1. Run only where a GPU is present.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include "core/autograd.h"
#include "core/ops/pool.h"
#include "core/random.h"
#include "core/tensor.h"

using namespace ghm;

namespace {

const Device kGpu = Device::cuda(0);

// The bit patterns, so that NaN compares equal to the same NaN and -0 differs from +0.
std::vector<std::uint32_t> bits(const Tensor& t) {
  const std::vector<float> v = t.to(Device::cpu()).to_vector<float>();
  std::vector<std::uint32_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::bit_cast<std::uint32_t>(v[i]);
  return out;
}

// Values on a coarse grid (many ties inside a window), with some NaN and -inf when asked.
Tensor pool_input(const Shape& s, Generator& gen, bool specials) {
  std::vector<float> v(static_cast<std::size_t>(s.numel()));
  for (float& x : v) {
    x = std::floor(gen.normal() * 2.0f);
    if (specials) {
      const float u = gen.uniform();
      if (u < 0.02f) x = std::numeric_limits<float>::quiet_NaN();
      else if (u < 0.05f) x = -std::numeric_limits<float>::infinity();
    }
  }
  return Tensor::from_vector(v, s);
}

struct Run {
  Tensor y, dx;
};

Run run_max_pool(const Tensor& x, const Pool2dParams& p, const Tensor& w) {
  Tensor leaf = x.clone().detach();
  leaf.set_requires_grad(true);
  const Tensor y = max_pool2d(leaf, p);
  if (y.numel() > 0) y.backward(w.to(x.device()));
  return {y.detach(), leaf.grad()};
}

void check_max_pool(const Shape& s, const Pool2dParams& p, bool specials) {
  INFO("shape " << s << ", kernel " << p.kernel_h << "x" << p.kernel_w << ", stride " << p.stride_h << "x"
                << p.stride_w << ", padding " << p.pad_h << "x" << p.pad_w << (specials ? ", NaN and -inf" : ""));
  Generator gen(static_cast<std::uint64_t>(s.numel() * 31 + p.kernel_h * 7 + p.stride_w));
  const Tensor x = pool_input(s, gen, specials);
  const Tensor probe = max_pool2d(x, p);  // for the shape of the upstream gradient
  const Tensor w = Tensor::normal(probe.shape(), 0, 1, gen);
  const Run cpu = run_max_pool(x, p, w);
  const Run gpu = run_max_pool(x.to(kGpu), p, w);
  REQUIRE(gpu.y.device().is_cuda());
  CHECK(gpu.y.shape() == cpu.y.shape());
  CHECK(bits(gpu.y) == bits(cpu.y));
  if (cpu.y.numel() == 0) return;
  REQUIRE(gpu.dx.device().is_cuda());
  CHECK(bits(gpu.dx) == bits(cpu.dx));  // the same additions in the same order
  const Run again = run_max_pool(x.to(kGpu), p, w);
  CHECK(bits(again.y) == bits(gpu.y));
  CHECK(bits(again.dx) == bits(gpu.dx));
}

Run run_upsample(const Tensor& x, std::int64_t out_h, std::int64_t out_w, const Tensor& w) {
  Tensor leaf = x.clone().detach();
  leaf.set_requires_grad(true);
  const Tensor y = upsample_nearest(leaf, out_h, out_w);
  if (y.numel() > 0) y.backward(w.to(x.device()));
  return {y.detach(), leaf.grad()};
}

void check_upsample(const Shape& s, std::int64_t out_h, std::int64_t out_w) {
  INFO("shape " << s << " to " << out_h << "x" << out_w);
  Generator gen(static_cast<std::uint64_t>(s.numel() * 17 + out_h * 5 + out_w));
  const Tensor x = Tensor::normal(s, 0, 1, gen);
  const Tensor w = Tensor::normal(Shape{s[0], s[1], out_h, out_w}, 0, 1, gen);
  const Run cpu = run_upsample(x, out_h, out_w, w);
  const Run gpu = run_upsample(x.to(kGpu), out_h, out_w, w);
  REQUIRE(gpu.y.device().is_cuda());
  CHECK(gpu.y.shape() == cpu.y.shape());
  CHECK(bits(gpu.y) == bits(cpu.y));
  if (cpu.y.numel() == 0) return;
  REQUIRE(gpu.dx.device().is_cuda());
  CHECK(bits(gpu.dx) == bits(cpu.dx));  // each input's block of dy added in row-major order, as on the CPU
  const Run again = run_upsample(x.to(kGpu), out_h, out_w, w);
  CHECK(bits(again.dx) == bits(gpu.dx));
}

}  // namespace

TEST_CASE("cuda max_pool2d: values, argmax gradient and determinism equal the CPU") {
  const std::vector<Pool2dParams> params = {
      Pool2dParams::square(3, 2, 1),  // the ResNet stem
      Pool2dParams::square(2, 2, 0),
      Pool2dParams::square(3, 1, 1),  // kernel larger than the stride: windows overlap
      Pool2dParams::square(5, 3, 2),
      Pool2dParams{3, 2, 2, 1, 1, 0},  // rectangular kernel and stride
      Pool2dParams::square(1, 1, 0),
  };
  const std::vector<Shape> shapes = {Shape{2, 3, 17, 23}, Shape{1, 2, 8, 8}, Shape{2, 3, 33, 35}, Shape{1, 1, 1, 1},
                                     Shape{3, 1, 2, 5},   Shape{1, 1, 64, 129}, Shape{0, 3, 9, 9}};
  for (const Pool2dParams& p : params)
    for (const Shape& s : shapes) {
      if (s[2] + 2 * p.pad_h < p.kernel_h || s[3] + 2 * p.pad_w < p.kernel_w) continue;  // smaller than the kernel
      check_max_pool(s, p, false);
      check_max_pool(s, p, true);
    }
}

TEST_CASE("cuda max_pool2d: an all-equal plane and a plane of NaN pick the first element") {
  for (const float value : {1.5f, -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    const Shape s{1, 2, 7, 6};
    const Tensor x = Tensor::full(s, value);
    const Pool2dParams p = Pool2dParams::square(3, 2, 1);
    Generator gen(3);
    const Tensor w = Tensor::normal(max_pool2d(x, p).shape(), 0, 1, gen);
    const Run cpu = run_max_pool(x, p, w), gpu = run_max_pool(x.to(kGpu), p, w);
    CHECK(bits(gpu.y) == bits(cpu.y));
    CHECK(bits(gpu.dx) == bits(cpu.dx));
  }
}

TEST_CASE("cuda upsample_nearest: values and gradient equal the CPU, by 2, non-integer ratios and to 1x1") {
  const std::vector<std::tuple<Shape, std::int64_t, std::int64_t>> cases = {
      {Shape{2, 3, 4, 5}, 8, 10},      // x2, the FPN top-down path
      {Shape{1, 2, 5, 5}, 7, 7},       // 5 -> 7
      {Shape{1, 2, 7, 7}, 5, 5},       // 7 -> 5: some inputs have no output
      {Shape{2, 1, 5, 7}, 7, 5},       // up in one axis, down in the other
      {Shape{1, 3, 6, 9}, 1, 1},       // to 1x1
      {Shape{1, 1, 1, 1}, 3, 4},       // from 1x1
      {Shape{2, 2, 3, 3}, 3, 3},       // same size
      {Shape{2, 3, 25, 38}, 50, 76},   // x2 on planes larger than a block
      {Shape{1, 2, 13, 11}, 40, 27},   // a large non-integer ratio
      {Shape{0, 3, 4, 4}, 8, 8},       // an empty batch
  };
  for (const auto& [s, out_h, out_w] : cases) check_upsample(s, out_h, out_w);
}
