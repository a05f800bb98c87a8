// conv2d_relu (core/ops/conv.h) against the composition it replaces, relu(conv2d(...)), on the
// oneDNN path and (with GHM_CONV_IMPL=reference) on the reference path.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gradcheck.h"

#include "core/ops/conv.h"

using namespace ghm;
using namespace ghm::testing;

// conv2d_relu fuses the ReLU into the convolution's output pass (a oneDNN post-op, or an in-place
// pass after the reference kernel): values and every gradient must be those of relu(conv2d(...)).
TEST_CASE("conv2d_relu: equals relu(conv2d) in values and gradients") {
  Generator gen(16);
  struct Case {
    Shape x, w;
    Conv2dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {{{2, 3, 7, 6}, {4, 3, 3, 3}, Conv2dParams::square(1, 1), true},
                                   {{1, 16, 9, 7}, {32, 16, 3, 3}, Conv2dParams::square(2, 1), false},
                                   {{3, 4, 3, 5}, {5, 4, 1, 1}, Conv2dParams::square(1, 0), true},
                                   {{2, 3, 21, 20}, {16, 3, 7, 7}, Conv2dParams::square(2, 3), false}};
  for (const Case& c : cases) {
    const Tensor x0 = randn(c.x, gen), w0 = randn(c.w, gen, 0.5f);
    const Tensor b0 = c.bias ? randn(Shape{c.w[0]}, gen) : Tensor();
    auto run = [&](bool fused) {
      Tensor x = param(x0.clone()), w = param(w0.clone()), b = c.bias ? param(b0.clone()) : Tensor();
      const Tensor y = fused ? conv2d_relu(x, w, b, c.p) : relu(conv2d(x, w, b, c.p));
      const Tensor r = spread_values(y.shape(), gen);
      sum(mul(y, r)).backward();
      std::vector<Tensor> out;
      out.push_back(y);
      out.push_back(x.grad());
      out.push_back(w.grad());
      if (c.bias) out.push_back(b.grad());
      return out;
    };
    const Generator saved = gen;
    const std::vector<Tensor> fused = run(true);
    gen = saved;  // the same r for both
    const std::vector<Tensor> plain = run(false);
    REQUIRE(fused.size() == plain.size());
    for (std::size_t i = 0; i < fused.size(); ++i) {
      const std::vector<float> a = fused[i].to_vector<float>(), e = plain[i].to_vector<float>();
      double err = 0, scale = 1;
      for (std::size_t k = 0; k < a.size(); ++k) {
        err = std::max(err, std::abs(static_cast<double>(a[k]) - e[k]));
        scale = std::max(scale, std::abs(static_cast<double>(e[k])));
      }
      INFO("case with input " << c.x << ", output " << i);
      CHECK(err / scale <= 1e-5);
    }
  }
}
