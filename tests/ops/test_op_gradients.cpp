// The op table's CPU driver: the autograd gradient of every differentiable input of every case
// that allows finite differences (op_table.h), against central differences (gradcheck.h).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "../core/gradcheck.h"
#include "core/autograd.h"
#include "op_table.h"

using namespace ghm;
using namespace ghm::testing;

TEST_CASE("op table: every differentiable op's gradients agree with finite differences on the CPU") {
  int checked = 0;
  for (const OpEntry& entry : op_table()) {
    bool differentiable = false;
    int entry_checked = 0;
    for (const OpCase& c : entry.cases()) {
      for (const OpInput& in : c.inputs) differentiable = differentiable || in.differentiable;
      if (!finite_differences_apply(c)) continue;
      std::vector<Tensor> inputs;
      for (const OpInput& in : c.inputs) {
        Tensor leaf = in.value.clone().detach();
        if (in.differentiable) leaf.set_requires_grad(true);
        inputs.push_back(leaf);
      }
      Shape y_shape;
      {
        NoGradGuard no_grad;
        y_shape = c.run(inputs).shape();
      }
      gradcheck(std::string(entry.op) + ": " + c.name, c.run, inputs, upstream_gradient(c, inputs, y_shape));
      ++entry_checked;
    }
    CHECK_MESSAGE((!differentiable || entry_checked > 0), entry.op,
                  " has no case for finite differences: add one with at most ", kFiniteDifferenceElements,
                  " differentiable input elements, away from ties");
    checked += entry_checked;
  }
  MESSAGE(checked, " cases checked by finite differences");
}

TEST_CASE("op table: the upstream gradient is 0 where an output is within the margin of its kink") {
  const Tensor x = Tensor::from_vector<float>({0.0f, 0.5f * kKinkMargin, -0.5f * kKinkMargin, 2 * kKinkMargin, -1.0f},
                                              Shape{5});
  const OpCase relu_case{"relu", {grad_input(x)}, [](const std::vector<Tensor>& in) { return relu(in[0]); },
                         [](const std::vector<Tensor>& in) { return in[0]; }};
  const std::vector<float> r = upstream_gradient(relu_case, {x}, Shape{5}).to_vector<float>();
  CHECK(r[0] == 0.0f);
  CHECK(r[1] == 0.0f);
  CHECK(r[2] == 0.0f);
  CHECK(r[3] != 0.0f);
  CHECK(r[4] != 0.0f);
}
