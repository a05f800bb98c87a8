// Backend consistency for index_select and gather on CUDA: forward and backward, bit for bit
// against the CPU. The forwards only move values; the backwards add each destination's terms from
// 0 in increasing source position, the order of the CPU's serial loop, so they are exact too.
// Every dimension, repeated indices (many repeats, so that a different order would show), empty
// indices, i32 and i64 indices, index shapes smaller than x for gather, out-of-range indices (a
// clear error naming the first bad position) and run-to-run determinism. Run only where a GPU is
// present.
#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops/shape_ops.h"
#include "core/random.h"
#include "core/tensor.h"

using namespace ghm;

namespace {

const Device kGpu = Device::cuda(0);

std::vector<std::uint32_t> bits(const Tensor& t) {
  const std::vector<float> v = t.to(Device::cpu()).to_vector<float>();
  std::vector<std::uint32_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::bit_cast<std::uint32_t>(v[i]);
  return out;
}

// An index tensor of `s` with values in [0, limit), as i64 or i32.
Tensor random_index(const Shape& s, std::int64_t limit, DType dtype, Generator& gen) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(s.numel()));
  for (std::int64_t& x : v) x = static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(limit));
  if (dtype == DType::I64) return Tensor::from_vector(v, s);
  return Tensor::from_vector(std::vector<std::int32_t>(v.begin(), v.end()), s);
}

struct Run {
  Tensor y, dx;
};

enum class Op { IndexSelect, Gather };

// Forward, then the gradient of sum(y * w); x and index are moved to `device` first.
Run run(Op op, const Tensor& x, int dim, const Tensor& index, const Tensor& w, Device device) {
  Tensor leaf = x.to(device).detach();
  leaf.set_requires_grad(true);
  const Tensor idx = index.to(device);
  const Tensor y = op == Op::IndexSelect ? index_select(leaf, dim, idx) : gather(leaf, dim, idx);
  y.backward(w.to(device));
  return {y.detach(), leaf.grad()};
}

void check(Op op, const Shape& xs, int dim, const Tensor& index) {
  INFO((op == Op::IndexSelect ? "index_select" : "gather") << " of " << xs << " along " << dim << ", index "
                                                            << index.shape() << " " << index.dtype());
  Generator gen(static_cast<std::uint64_t>(xs.numel() * 7 + index.numel() * 3 + dim));
  const Tensor x = Tensor::normal(xs, 0, 1, gen);
  const Tensor probe = op == Op::IndexSelect ? index_select(x, dim, index) : gather(x, dim, index);
  const Tensor w = Tensor::normal(probe.shape(), 0, 1, gen);
  const Run cpu = run(op, x, dim, index, w, Device::cpu());
  const Run gpu = run(op, x, dim, index, w, kGpu);
  REQUIRE(gpu.y.device().is_cuda());
  CHECK(gpu.y.shape() == cpu.y.shape());
  CHECK(bits(gpu.y) == bits(cpu.y));
  REQUIRE(cpu.dx.defined());
  REQUIRE(gpu.dx.defined());
  REQUIRE(gpu.dx.device().is_cuda());
  CHECK(bits(gpu.dx) == bits(cpu.dx));
  const Run again = run(op, x, dim, index, w, kGpu);
  CHECK(bits(again.y) == bits(gpu.y));
  CHECK(bits(again.dx) == bits(gpu.dx));
}

}  // namespace

TEST_CASE("cuda index_select: every dimension, repeats, empty, i32 and i64 indices equal the CPU") {
  Generator gen(11);
  const Shape xs{4, 5, 6};
  for (const DType dtype : {DType::I64, DType::I32}) {
    for (int dim = 0; dim < 3; ++dim) {
      const std::int64_t extent = xs[dim];
      check(Op::IndexSelect, xs, dim, random_index(Shape{9}, extent, dtype, gen));  // repeats: 9 picks of <= 6
      check(Op::IndexSelect, xs, dim, random_index(Shape{1}, extent, dtype, gen));
      check(Op::IndexSelect, xs, dim, random_index(Shape{0}, extent, dtype, gen));  // empty: a zero gradient
    }
    check(Op::IndexSelect, xs, -1, random_index(Shape{4}, xs[2], dtype, gen));  // a negative dimension
  }
  // Rows longer than a block, and many repeats of few rows (a long sum per destination).
  check(Op::IndexSelect, Shape{7, 300}, 0, random_index(Shape{1001}, 7, DType::I64, gen));
  check(Op::IndexSelect, Shape{7, 300}, 1, random_index(Shape{513}, 300, DType::I32, gen));
  check(Op::IndexSelect, Shape{3, 2000, 3}, 1, random_index(Shape{5000}, 17, DType::I64, gen));  // rows 17.. unused
  // The detection loss's use: the positive rows of [A, 4].
  check(Op::IndexSelect, Shape{1237, 4}, 0, random_index(Shape{45}, 1237, DType::I64, gen));
  check(Op::IndexSelect, Shape{1}, 0, Tensor::from_vector<std::int64_t>({0, 0, 0}, Shape{3}));
}

TEST_CASE("cuda gather: every dimension, index shapes smaller than x, i32 and i64 indices equal the CPU") {
  Generator gen(12);
  const Shape xs{4, 5, 6};
  for (const DType dtype : {DType::I64, DType::I32})
    for (int dim = 0; dim < 3; ++dim) {
      const std::int64_t extent = xs[dim];
      check(Op::Gather, xs, dim, random_index(Shape{4, 5, 6}, extent, dtype, gen));
      Shape smaller{3, 4, 2};
      smaller[dim] = 9;  // longer than x along dim: repeats
      check(Op::Gather, xs, dim, random_index(smaller, extent, dtype, gen));
      Shape empty{4, 5, 6};
      empty[dim] = 0;
      check(Op::Gather, xs, dim, random_index(empty, extent, dtype, gen));
    }
  check(Op::Gather, Shape{3, 700}, 1, random_index(Shape{3, 1500}, 700, DType::I64, gen));
  check(Op::Gather, Shape{2000, 3}, 0, random_index(Shape{4001, 2}, 5, DType::I32, gen));  // long runs
  check(Op::Gather, Shape{2, 3, 4, 5}, 2, random_index(Shape{2, 3, 6, 5}, 4, DType::I64, gen));
  check(Op::Gather, Shape{1}, 0, Tensor::from_vector<std::int32_t>({0}, Shape{1}));
}

TEST_CASE("cuda index_select and gather: an index out of range is an error naming the first bad position") {
  const Tensor x = Tensor::zeros(Shape{4, 5}, DType::F32, kGpu);
  for (const DType dtype : {DType::I64, DType::I32}) {
    INFO("index " << dtype);
    const Tensor bad = Tensor::from_vector<std::int64_t>({0, 3, 5, 2, -1}, Shape{5}).to(dtype).to(kGpu);
    CHECK_THROWS_WITH_AS(index_select(x, 1, bad),
                         doctest::Contains("index_select: index 5 at position 2 is out of range [0, 5)"), Error);
    const Tensor negative = Tensor::from_vector<std::int64_t>({1, -1, 2}, Shape{3}).to(dtype).to(kGpu);
    CHECK_THROWS_WITH_AS(index_select(x, 0, negative),
                         doctest::Contains("index_select: index -1 at position 1 is out of range [0, 4)"), Error);
    const Tensor gbad = Tensor::from_vector<std::int64_t>({0, 1, 2, 3, 4, 1, 9, 0}, Shape{4, 2}).to(dtype).to(kGpu);
    CHECK_THROWS_WITH_AS(gather(x, 1, gbad), doctest::Contains("gather: index 9 at position 6 is out of range [0, 5)"),
                         Error);
  }
  // Nothing faulted: the device still works after the errors.
  const Tensor ok = Tensor::from_vector<std::int64_t>({4, 0}, Shape{2}).to(kGpu);
  CHECK(index_select(x, 1, ok).to(Device::cpu()).to_vector<float>() == std::vector<float>(8, 0.0f));
  // An index on another device than x.
  CHECK_THROWS_WITH_AS(index_select(x, 1, Tensor::from_vector<std::int64_t>({1}, Shape{1})),
                       doctest::Contains("index_select: index is on cpu but x is on cuda:0"), Error);
}
