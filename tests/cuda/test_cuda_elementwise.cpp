// Backend consistency for the elementwise ops: each op, forward and backward, on CUDA and on the
// CPU with the same random inputs (odd sizes, broadcasting, a single element, empty), compared
// with a normalised error: max |cuda - cpu| / max(1, max |cpu|). Run only where a GPU is present.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/random.h"
#include "core/tensor.h"
#include "compare.h"

using namespace ghm;
using ghm::testing::normalised_error;

namespace {

const Device kGpu = Device::cuda(0);

using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;
using Unary = std::function<Tensor(const Tensor&)>;

// Forward and, for every input, the gradient of sum(out * w) with a random w.
void check_binary(const char* name, const Binary& f, const Shape& sa, const Shape& sb, double tol, bool positive_b) {
  Generator gen(17);
  Tensor a = Tensor::normal(sa, 0, 1, gen), b = Tensor::normal(sb, 0, 1, gen);
  if (positive_b) b = add_scalar(mul(b, b), 0.5f);  // away from 0, for div
  Tensor ac = a.clone(), bc = b.clone();
  ac.set_requires_grad(true);
  bc.set_requires_grad(true);
  Tensor ag = a.to(kGpu), bg = b.to(kGpu);
  ag.set_requires_grad(true);
  bg.set_requires_grad(true);
  const Tensor yc = f(ac, bc), yg = f(ag, bg);
  INFO(name << " " << sa << " and " << sb);
  CHECK(normalised_error(yg, yc) <= tol);
  if (yc.numel() == 0) return;
  const Tensor w = Tensor::normal(yc.shape(), 0, 1, gen);
  yc.backward(w);
  yg.backward(w.to(kGpu));
  CHECK(normalised_error(ag.grad(), ac.grad()) <= tol);
  CHECK(normalised_error(bg.grad(), bc.grad()) <= tol);
}

void check_unary(const char* name, const Unary& f, const Shape& s, double tol, bool positive) {
  Generator gen(23);
  Tensor x = Tensor::normal(s, 0, 3, gen);
  if (positive) x = add_scalar(mul(x, x), 0.1f);
  Tensor xc = x.clone(), xg = x.to(kGpu);
  xc.set_requires_grad(true);
  xg.set_requires_grad(true);
  const Tensor yc = f(xc), yg = f(xg);
  INFO(name << " " << s);
  CHECK(normalised_error(yg, yc) <= tol);
  if (yc.numel() == 0) return;
  const Tensor w = Tensor::normal(s, 0, 1, gen);
  yc.backward(w);
  yg.backward(w.to(kGpu));
  CHECK(normalised_error(xg.grad(), xc.grad()) <= tol);
}

const std::vector<Shape> kShapes = {Shape{1}, Shape{0}, Shape{257}, Shape{3, 5, 7}, Shape{2, 3, 33, 65}, Shape{1000003}};

}  // namespace

TEST_CASE("cuda elementwise: add, sub, mul, div, add_relu agree with the CPU, same shapes and broadcast") {
  const std::vector<std::pair<Shape, Shape>> broadcast = {{Shape{2, 3, 33, 65}, Shape{1, 3, 1, 1}},
                                                          {Shape{2, 3, 33, 65}, Shape{}},
                                                          {Shape{7, 1}, Shape{1, 9}},
                                                          {Shape{5, 4, 3}, Shape{4, 1}}};
  for (const auto& [name, f, positive] : std::vector<std::tuple<const char*, Binary, bool>>{
           {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, false},
           {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, false},
           {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, false},
           {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, true},
           {"add_relu", [](const Tensor& a, const Tensor& b) { return add_relu(a, b); }, false}}) {
    for (const Shape& s : kShapes) check_binary(name, f, s, s, 1e-6, positive);
    for (const auto& [sa, sb] : broadcast) {
      check_binary(name, f, sa, sb, 1e-6, positive);
      check_binary(name, f, sb, sa, 1e-6, positive);
    }
  }
}

TEST_CASE("cuda elementwise: neg, relu, sigmoid, exp, log and the scalar ops agree with the CPU") {
  for (const Shape& s : kShapes) {
    check_unary("neg", [](const Tensor& x) { return neg(x); }, s, 0, false);
    check_unary("relu", [](const Tensor& x) { return relu(x); }, s, 0, false);
    check_unary("sigmoid", [](const Tensor& x) { return sigmoid(x); }, s, 1e-6, false);
    check_unary("exp", [](const Tensor& x) { return exp(x); }, s, 1e-6, false);
    check_unary("log", [](const Tensor& x) { return log(x); }, s, 1e-6, true);
    check_unary("add_scalar", [](const Tensor& x) { return add_scalar(x, 0.25f); }, s, 0, false);
    check_unary("mul_scalar", [](const Tensor& x) { return mul_scalar(x, -1.5f); }, s, 0, false);
  }
}

TEST_CASE("cuda elementwise: mixing devices in one op is a clear error") {
  const Tensor a = Tensor::ones(Shape{3}), b = Tensor::ones(Shape{3}).to(kGpu);
  CHECK_THROWS_WITH_AS((void)add(a, b), doctest::Contains("operands on different devices (cpu and cuda:0)"), Error);
}
