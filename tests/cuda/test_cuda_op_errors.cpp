// The errors of the core ops on CUDA: operands on two devices, indices out of range (found on the
// device, reported with the first bad position, and the device still usable afterwards), and
// training statistics from a single value; each message names the op, the operand and the devices
// or values. Run only where a GPU is present.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/ops/conv.h"
#include "core/ops/elementwise.h"
#include "core/ops/norm.h"
#include "core/ops/shape_ops.h"
#include "core/random.h"
#include "core/tensor.h"

using namespace ghm;

namespace {
const Device kGpu = Device::cuda(0);
}

TEST_CASE("cuda op errors: elementwise operands on two devices") {
  const Tensor a = Tensor::ones(Shape{3}), b = Tensor::ones(Shape{3}).to(kGpu);
  CHECK_THROWS_WITH_AS((void)add(a, b), doctest::Contains("operands on different devices (cpu and cuda:0)"), Error);
}

TEST_CASE("cuda op errors: conv2d operands on two devices") {
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

TEST_CASE("cuda op errors: an index out of range names the first bad position") {
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

TEST_CASE("cuda op errors: normalisation parameters on another device, and a single value per channel") {
  const Tensor x = Tensor::ones(Shape{2, 3, 4, 4}).to(kGpu);
  Tensor rm = Tensor::zeros(Shape{3}, DType::F32, kGpu), rv = Tensor::ones(Shape{3}, DType::F32, kGpu);
  Tensor rm_cpu = Tensor::zeros(Shape{3}), rv_cpu = Tensor::ones(Shape{3});
  CHECK_THROWS_WITH_AS((void)batch_norm(x, Tensor::ones(Shape{3}), Tensor(), rm, rv, BatchNormMode::Train),
                       doctest::Contains("batch_norm: weight is on cpu, the input on cuda:0"), Error);
  CHECK_THROWS_WITH_AS((void)batch_norm(x, Tensor(), Tensor(), rm_cpu, rv_cpu, BatchNormMode::Eval),
                       doctest::Contains("batch_norm: running_mean is on cpu, the input on cuda:0"), Error);
  CHECK_THROWS_WITH_AS((void)group_norm(x, 3, Tensor(), Tensor::zeros(Shape{3})),
                       doctest::Contains("group_norm: bias is on cpu, the input on cuda:0"), Error);
  CHECK_THROWS_WITH_AS((void)frozen_batch_norm(x, Tensor(), Tensor(), rm, rv_cpu),
                       doctest::Contains("frozen_batch_norm: running_var is on cpu, the input on cuda:0"), Error);
  Tensor rm1 = Tensor::zeros(Shape{3}, DType::F32, kGpu), rv1 = Tensor::ones(Shape{3}, DType::F32, kGpu);
  CHECK_THROWS_WITH_AS((void)batch_norm(Tensor::ones(Shape{1, 3, 1, 1}).to(kGpu), Tensor(), Tensor(), rm1, rv1,
                                        BatchNormMode::Train),
                       doctest::Contains("more than one value per channel"), Error);
}
