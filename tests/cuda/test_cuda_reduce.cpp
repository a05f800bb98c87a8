// Backend consistency for the reductions: sum and mean over dimensions (kept or dropped) and over
// everything, forward and backward, on CUDA against the CPU, for shapes that exercise both kernels
// (reducing the last dimension and an inner one), several blocks, a single element and empty
// inputs; and run-to-run determinism of the device sums. Run only where a GPU is present.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"
#include "compare.h"

using namespace ghm;
using ghm::testing::normalised_error;

namespace {

const Device kGpu = Device::cuda(0);

using Reduction = std::function<Tensor(const Tensor&)>;

void check(const char* name, const Reduction& f, const Shape& s) {
  Generator gen(29);
  const Tensor x = Tensor::normal(s, 0, 1, gen);
  Tensor xc = x.clone(), xg = x.to(kGpu);
  xc.set_requires_grad(true);
  xg.set_requires_grad(true);
  const Tensor yc = f(xc), yg = f(xg);
  INFO(name << " of " << s);
  CHECK(normalised_error(yg, yc) <= 1e-5);
  const Tensor w = Tensor::normal(yc.shape(), 0, 1, gen);
  yc.backward(w);
  yg.backward(w.to(kGpu));
  CHECK(normalised_error(xg.grad(), xc.grad()) <= 1e-6);
}

}  // namespace

TEST_CASE("cuda reductions: sum and mean over dimensions and over everything agree with the CPU") {
  for (const Shape& s : {Shape{1}, Shape{7}, Shape{3, 5}, Shape{2, 3, 33, 65}, Shape{4, 300000}, Shape{0, 3}}) {
    check("sum()", [](const Tensor& x) { return sum(x); }, s);
    if (s.numel() > 0) check("mean()", [](const Tensor& x) { return mean(x); }, s);
    check("sum(last)", [](const Tensor& x) { return sum(x, {-1}); }, s);
    check("sum(first, keep)", [](const Tensor& x) { return sum(x, {0}, KeepDim::Yes); }, s);
    if (s.ndim() >= 2 && s.numel() > 0) check("mean(first two)", [](const Tensor& x) { return mean(x, {0, 1}); }, s);
  }
  check("sum(0, 2, 3)", [](const Tensor& x) { return sum(x, {0, 2, 3}); }, Shape{2, 3, 33, 65});
}

TEST_CASE("cuda reductions: broadcast gradients (sum_to) of a per-channel bias") {
  Generator gen(31);
  const Tensor x = Tensor::normal(Shape{2, 5, 9, 11}, 0, 1, gen), b = Tensor::normal(Shape{1, 5, 1, 1}, 0, 1, gen);
  Tensor bc = b.clone(), bg = b.to(kGpu);
  bc.set_requires_grad(true);
  bg.set_requires_grad(true);
  sum(mul(add(x, bc), x)).backward();
  sum(mul(add(x.to(kGpu), bg), x.to(kGpu))).backward();
  CHECK(normalised_error(bg.grad(), bc.grad()) <= 1e-5);
}

TEST_CASE("cuda reductions: the same sums on every run") {
  Generator gen(37);
  const Tensor x = Tensor::normal(Shape{3, 1000003}, 0, 1, gen).to(kGpu);
  const float first = sum(x).item();
  const std::vector<float> rows = sum(x, {1}).to(Device::cpu()).to_vector<float>();
  for (int i = 0; i < 5; ++i) {
    CHECK(sum(x).item() == first);
    CHECK(sum(x, {1}).to(Device::cpu()).to_vector<float>() == rows);
  }
}
