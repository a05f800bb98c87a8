// Autograd semantics: accumulation into shared parameters, no_grad, detach, freeing of the graph
// and of saved tensors, and the errors for misuse.
#include <doctest/doctest.h>

#include "core/autograd.h"
#include "core/ops/conv.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"

using namespace ghm;

TEST_CASE("autograd: a parameter used by two branches gets the sum of both gradients") {
  Tensor w = Tensor::from_vector<float>({1, 2, 3}, Shape{3});
  w.set_requires_grad(true);
  const Tensor a = Tensor::from_vector<float>({1, 1, 1}, Shape{3}), b = Tensor::from_vector<float>({2, 3, 4}, Shape{3});
  Tensor loss = add(sum(mul(w, a)), sum(mul(w, b)));  // d/dw = a + b
  loss.backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{3, 4, 5});
  // A second forward/backward accumulates into the same leaf.
  sum(mul(w, w)).backward();  // + 2w
  CHECK(w.grad().to_vector<float>() == std::vector<float>{5, 8, 11});
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("autograd: one conv weight shared across five levels (as the RetinaNet head)") {
  Generator gen(11);
  Tensor w = Tensor::normal(Shape{2, 3, 3, 3}, 0, 0.1f, gen);
  w.set_requires_grad(true);
  std::vector<Tensor> levels;
  for (int s : {16, 8, 4, 2, 1}) levels.push_back(Tensor::normal(Shape{1, 3, s, s}, 0, 1, gen));
  Tensor total = Tensor::scalar(0);
  for (const Tensor& x : levels) total = add(total, sum(conv2d(x, w, Tensor(), Conv2dParams::square(1, 1))));
  total.backward();
  const Tensor shared = w.grad().clone();
  Tensor expected = Tensor::zeros(w.shape());
  for (const Tensor& x : levels) {
    w.zero_grad();
    sum(conv2d(x, w, Tensor(), Conv2dParams::square(1, 1))).backward();
    expected = add(expected, w.grad());
  }
  const auto a = shared.to_vector<float>(), b = expected.to_vector<float>();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
}

TEST_CASE("autograd: no_grad builds no graph, detach cuts history") {
  Tensor x = Tensor::ones(Shape{4});
  x.set_requires_grad(true);
  {
    NoGradGuard guard;
    Tensor y = mul_scalar(x, 2.0f);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  Tensor y = mul_scalar(x, 2.0f);
  CHECK(y.requires_grad());
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->name == "mul_scalar");
  Tensor d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.shares_storage_with(y));
  CHECK_THROWS_WITH_AS(sum(d).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("autograd: the graph and its saved tensors are freed after backward") {
  Generator gen(5);
  Tensor w = Tensor::normal(Shape{8, 4, 3, 3}, 0, 0.1f, gen);
  w.set_requires_grad(true);
  const std::int64_t before = Storage::live_blocks();
  {
    Tensor x = Tensor::normal(Shape{2, 4, 9, 9}, 0, 1, gen);
    Tensor loss = sum(sigmoid(relu(conv2d(x, w, Tensor(), Conv2dParams::square(1, 1)))));
    const std::int64_t during = Storage::live_blocks();
    CHECK(during > before + 1);  // activations saved for backward
    loss.backward();
    // Only x, loss and w.grad remain beyond what existed before.
    CHECK(Storage::live_blocks() == before + 3);
    CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("already freed"), Error);
  }
  CHECK(Storage::live_blocks() == before + 1);  // w.grad
  w.zero_grad();
  CHECK(Storage::live_blocks() == before);
}

TEST_CASE("autograd: an abandoned graph (no backward) does not leak") {
  Generator gen(6);
  Tensor w = Tensor::normal(Shape{3}, 0, 1, gen);
  w.set_requires_grad(true);
  const std::int64_t before = Storage::live_blocks();
  { Tensor y = sigmoid(exp(mul(w, w))); }
  CHECK(Storage::live_blocks() == before);
}

TEST_CASE("autograd: backward with an upstream gradient, and misuse errors") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, Shape{2, 2});
  x.set_requires_grad(true);
  Tensor y = mul_scalar(x, 3.0f);
  y.backward(Tensor::from_vector<float>({1, 0, 2, 0}, Shape{2, 2}));
  CHECK(x.grad().to_vector<float>() == std::vector<float>{3, 0, 6, 0});
  Tensor z = mul_scalar(x, 3.0f);
  CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("only one-element tensors"), Error);
  CHECK_THROWS_WITH_AS(z.backward(Tensor::ones(Shape{4})), doctest::Contains("gradient of shape [4]"), Error);
  CHECK_THROWS_WITH_AS(z.set_requires_grad(false), doctest::Contains("only leaf tensors"), Error);
  Tensor i = Tensor::zeros(Shape{2}, DType::I64);
  CHECK_THROWS_WITH_AS(i.set_requires_grad(true), doctest::Contains("only f32"), Error);
}

TEST_CASE("autograd: GradReadyScope reports each leaf once per pass, with its final gradient") {
  Tensor a = Tensor::full({3}, 2.0);
  Tensor b = Tensor::full({3}, 5.0);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  // a feeds three products (its gradient is their sum), b one.
  const Tensor loss = sum(add(add(mul(a, a), mul(a, b)), a));
  std::vector<std::pair<const TensorImpl*, std::vector<float>>> seen;
  {
    const GradReadyScope scope([&](const Tensor& leaf) { seen.emplace_back(&leaf.impl(), leaf.grad().to_vector<float>()); });
    loss.backward();
  }
  REQUIRE(seen.size() == 2);
  for (const auto& [leaf, grad] : seen) {
    if (leaf == &a.impl()) CHECK(grad == std::vector<float>(3, 2 * 2.0f + 5.0f + 1.0f));  // d/da: 2a + b + 1
    else CHECK(grad == std::vector<float>(3, 2.0f));                                      // d/db: a
  }
  // Outside the scope nothing is called.
  const Tensor again = sum(mul(a, b));
  again.backward();
  CHECK(seen.size() == 2);
}

TEST_CASE("autograd: two leaves given one gradient tensor by an op get buffers of their own") {
  // add's backward hands the same tensor to both inputs when their shapes are equal; each leaf
  // must own its gradient, or an in-place change of one (a gradient exchange) would change both.
  Tensor a = Tensor::full(Shape{3}, 1.0);
  Tensor b = Tensor::full(Shape{3}, 2.0);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  ghm::sum(ghm::add(a, b)).backward();
  REQUIRE(a.grad().defined());
  REQUIRE(b.grad().defined());
  CHECK(a.grad().raw_data() != b.grad().raw_data());
  a.grad().data<float>()[0] = 5.0f;
  CHECK(b.grad().to_vector<float>() == std::vector<float>{1.0f, 1.0f, 1.0f});
  CHECK(a.grad().to_vector<float>() == std::vector<float>{5.0f, 1.0f, 1.0f});
}
