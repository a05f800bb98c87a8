// Fused ops against the compositions they replace, bit for bit on the CPU: add_relu(a, b) is
// relu(add(a, b)) in values and gradients (conv2d_relu: tests/core/test_conv_relu.cpp). Their
// gradients and CUDA twins are checked by the op table like every op.
#include <doctest/doctest.h>

#include "../core/gradcheck.h"

using namespace ghm;
using namespace ghm::testing;

TEST_CASE("add_relu: equals relu(add) bit for bit, forward and backward") {
  Generator gen(12);
  for (const Shape& sb : {Shape{2, 3, 4, 5}, Shape{1, 3, 1, 1}, Shape{}}) {
    CAPTURE(sb);
    Tensor a1 = param(randn(Shape{2, 3, 4, 5}, gen)), b1 = param(randn(sb, gen));
    Tensor a2 = param(a1.detach().clone()), b2 = param(b1.detach().clone());
    const Tensor fused = add_relu(a1, b1), plain = relu(add(a2, b2));
    CHECK(fused.to_vector<float>() == plain.to_vector<float>());
    const Tensor g = randn(fused.shape(), gen);
    fused.backward(g);
    plain.backward(g);
    CHECK(a1.grad().to_vector<float>() == a2.grad().to_vector<float>());
    CHECK(b1.grad().to_vector<float>() == b2.grad().to_vector<float>());
  }
}
