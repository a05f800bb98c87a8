// The finite-difference checker itself (gradcheck.h): a checker that cannot fail proves nothing,
// so a deliberately wrong backward must be caught, a right one must pass, and an output on a kink
// must be a mismatch unless the upstream gradient ignores it. The ops are checked by the op table
// (tests/ops/op_table.h).
#include "gradcheck.h"

using namespace ghm;
using namespace ghm::testing;

TEST_CASE("gradcheck: a wrong backward is caught, a right one passes") {
  Generator gen(5);
  Tensor x = param(randn(Shape{3, 4}, gen));
  const Tensor r = Tensor::uniform(Shape{3, 4}, -1, 1, gen);
  const GradcheckFn doubled_backward = [](const std::vector<Tensor>& in) {
    Tensor y = in[0].detach().clone();  // y = x, recorded with dy/dx = 2
    record_op(y, "doubled", {&in[0]}, [](const Tensor& g) { return std::vector<Tensor>{mul_scalar(g, 2.0f)}; });
    return y;
  };
  CHECK(gradient_mismatches(doubled_backward, {x}, r, {}, 100).size() == 12);
  const GradcheckFn identity = [](const std::vector<Tensor>& in) { return in[0].clone(); };
  CHECK(gradient_mismatches(identity, {x}, r).empty());
}

TEST_CASE("gradcheck: an output on a kink is a mismatch unless the upstream gradient is 0 there") {
  // relu at x = 0 exactly: the central difference is half the slope, whatever the backward says.
  Tensor x = param(Tensor::from_vector<float>({0.0f, 1.0f}, Shape{2}));
  const GradcheckFn f = [](const std::vector<Tensor>& in) { return relu(in[0]); };
  CHECK(gradient_mismatches(f, {x}, Tensor::ones(Shape{2})).size() == 1);
  CHECK(gradient_mismatches(f, {x}, Tensor::from_vector<float>({0.0f, 1.0f}, Shape{2})).empty());
}
