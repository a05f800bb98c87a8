// Finite-difference gradient checking for the core ops.
//
// For f: inputs -> output, checks the autograd gradient of L = sum(f(inputs) * R), with R a fixed
// tensor of y's shape (random in [-1, 1], so every output element matters differently), against
// central differences
//   dL/dx_i ~ (L(x_i + eps) - L(x_i - eps)) / (2 eps)
// where L is accumulated in double. Tolerance (why): f runs in float32, so each L carries a rounding
// error of about 1e-7 * sqrt(#outputs) * |R|; divided by 2*eps = 2e-3 that is ~1e-4 for outputs of
// a few thousand elements. We accept |numeric - analytic| <= atol + rtol * |analytic| with
// atol = rtol = 5e-3 by default, 50x above that noise yet far below the size of a wrong formula.
//
// Kinks (relu, max): an output within eps of a kink makes the central difference meaningless.
// Either keep the inputs away from kinks (spread_values) or pass an R that is 0 at such outputs
// (then L does not depend on them).
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"

namespace ghm::testing {

struct GradcheckOptions {
  float eps = 1e-3f;
  double atol = 5e-3;
  double rtol = 5e-3;
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// One element whose analytic and numeric derivatives disagree.
struct GradientMismatch {
  std::size_t input = 0;
  std::int64_t element = 0;
  double analytic = 0, numeric = 0;
};

inline double weighted_sum(const Tensor& y, const Tensor& r) {
  const float* a = y.data<float>();
  const float* b = r.data<float>();
  double s = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// The mismatches of every input with requires_grad (at most `limit` per input), for the upstream
// gradient r (y's shape). `inputs` are leaves; their values are restored after each probe.
inline std::vector<GradientMismatch> gradient_mismatches(const GradcheckFn& f, std::vector<Tensor> inputs,
                                                         const Tensor& r, GradcheckOptions opt = {}, int limit = 5) {
  for (Tensor& t : inputs) t.zero_grad();
  sum(mul(f(inputs), r)).backward();
  std::vector<GradientMismatch> out;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    const Tensor analytic = x.grad();
    REQUIRE(analytic.defined());
    REQUIRE(analytic.shape() == x.shape());
    float* p = x.data<float>();
    int failures = 0;
    for (std::int64_t i = 0; i < x.numel() && failures < limit; ++i) {
      const float saved = p[i];
      double lp, lm;
      {
        NoGradGuard ng;
        p[i] = saved + opt.eps;
        lp = weighted_sum(f(inputs), r);
        p[i] = saved - opt.eps;
        lm = weighted_sum(f(inputs), r);
      }
      p[i] = saved;
      const double numeric = (lp - lm) / (2.0 * opt.eps);
      const double a = analytic.data<float>()[i];
      if (std::abs(numeric - a) > opt.atol + opt.rtol * std::abs(a)) {
        ++failures;
        out.push_back({k, i, a, numeric});
      }
    }
  }
  return out;
}

// Reports every mismatch as a test failure, with the upstream gradient r.
inline void gradcheck(const std::string& what, const GradcheckFn& f, const std::vector<Tensor>& inputs, const Tensor& r,
                      GradcheckOptions opt = {}) {
  CAPTURE(what);
  for (const GradientMismatch& m : gradient_mismatches(f, inputs, r, opt))
    FAIL_CHECK("input ", m.input, " element ", m.element, ": analytic ", m.analytic, " vs numeric ", m.numeric);
}

// The same with a random R in [-1, 1].
inline void gradcheck(const std::string& what, const GradcheckFn& f, const std::vector<Tensor>& inputs,
                      GradcheckOptions opt = {}) {
  Shape y_shape;
  {
    NoGradGuard ng;
    y_shape = f(inputs).shape();
  }
  Generator gen(1234);
  gradcheck(what, f, inputs, Tensor::uniform(y_shape, -1.0f, 1.0f, gen), opt);
}

// Values spread at least `gap` apart (in random order): keeps max/relu away from ties and kinks.
inline Tensor spread_values(const Shape& shape, Generator& gen, float gap = 0.01f) {
  const std::int64_t n = shape.numel();
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = (static_cast<float>(i) - static_cast<float>(n) / 2.0f + 0.25f) * gap;
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(gen.next_u64() % static_cast<std::uint64_t>(i + 1))]);
  return Tensor::from_vector(v, shape);
}

inline Tensor randn(const Shape& shape, Generator& gen, float scale = 1.0f) {
  return Tensor::normal(shape, 0.0f, scale, gen);
}

inline Tensor param(Tensor t) {
  t.set_requires_grad(true);
  return t;
}

}  // namespace ghm::testing
