// GHM-C with the exact density against an O(E^2) brute force in double precision.
//
// Tolerance (why): g is computed in float32 by both, and window membership uses the same float32
// bounds, so the counts agree exactly for the inputs below (no g within 1e-6 of a window bound:
// values are spread on a coarse grid). Loss and gradient then differ only by float32 rounding of
// each term: rtol 1e-5.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/random.h"
#include "losses/ghm_c_exact.h"

using namespace ghm;

namespace {

struct Brute {
  double loss = 0;
  std::vector<double> grad;
};

Brute brute_force(const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& w, double eps) {
  const std::size_t n = x.size();
  std::vector<float> g(n);
  std::vector<double> p(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float ex = std::exp(-std::abs(x[i]));
    const float pf = x[i] >= 0 ? 1.0f / (1.0f + ex) : ex / (1.0f + ex);
    p[i] = pf;
    g[i] = std::abs(pf - y[i]);
  }
  double tot = 0;
  for (float v : w) tot += v > 0 ? 1 : 0;
  tot = std::max(tot, 1.0);
  Brute b;
  b.grad.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    if (!(w[i] > 0)) continue;
    const float lo = static_cast<float>(g[i] - eps / 2), hi = static_cast<float>(g[i] + eps / 2);
    double count = 0;
    for (std::size_t j = 0; j < n; ++j)
      if (w[j] > 0 && g[j] >= lo && g[j] < hi) count += 1;
    const double length = std::min(g[i] + eps / 2, 1.0) - std::max(g[i] - eps / 2, 0.0);
    const double gd = count / length;
    const double bce = std::max<double>(x[i], 0) - static_cast<double>(x[i]) * y[i] + std::log1p(std::exp(-std::abs(static_cast<double>(x[i]))));
    b.loss += bce / gd;
    b.grad[i] = (p[i] - y[i]) / gd;
  }
  return b;
}

}  // namespace

TEST_CASE("ghm_c_exact: matches an O(E^2) brute force, and its weights average to tot / density") {
  Generator gen(21);
  const std::int64_t n = 53, k = 3;
  std::vector<float> x, y, w;
  for (std::int64_t i = 0; i < n * k; ++i) {
    x.push_back(std::round(gen.uniform(-6.0f, 6.0f) * 8.0f) / 8.0f + 1.0f / 64.0f);  // coarse grid, no ties at bounds
    y.push_back(gen.uniform() < 0.2f ? 1.0f : 0.0f);
    w.push_back(gen.uniform() < 0.15f ? 0.0f : 1.0f);
  }
  for (const double eps : {0.1, 1.0 / 30.0, 1.0}) {
    CAPTURE(eps);
    const Brute b = brute_force(x, y, w, eps);
    Tensor pred = Tensor::from_vector(x, Shape{n, k});
    pred.set_requires_grad(true);
    Tensor loss = losses::ghm_c_exact_loss(pred, Tensor::from_vector(y, Shape{n, k}), Tensor::from_vector(w, Shape{n, k}),
                                           {eps, 1.0f});
    CHECK(loss.item() == doctest::Approx(b.loss).epsilon(1e-5));
    loss.backward();
    const std::vector<float> grad = pred.grad().to_vector<float>();
    for (std::size_t i = 0; i < grad.size(); ++i) CHECK(grad[i] == doctest::Approx(b.grad[i]).epsilon(1e-5).scale(1e-7));
  }
}

TEST_CASE("ghm_c_exact: one density per level, all ignored gives zero, bad epsilon is an error") {
  const Tensor pred = Tensor::from_vector<float>({0.5f, -1.0f, 2.0f, -3.0f}, Shape{4, 1});
  const Tensor target = Tensor::from_vector<float>({1, 0, 0, 1}, Shape{4, 1});
  const Tensor none = Tensor::zeros(Shape{4});
  const losses::GhmResult r = losses::ghm_c_exact_forward(pred, target, none, {0.1, 1.0f});
  CHECK(r.total == 0.0);
  for (float v : r.grad.to_vector<float>()) CHECK(v == 0.0f);
  const std::vector<std::int64_t> levels = {0, 1, 4};
  const losses::GhmResult lv = losses::ghm_c_exact_forward(pred, target, Tensor::ones(Shape{4}), {0.1, 1.0f}, levels);
  REQUIRE(lv.calls.size() == 2);
  CHECK(lv.calls[0].tot == 1.0);
  CHECK(lv.calls[1].tot == 3.0);
  // A single element is alone in its window: density 1 / l_eps(g), loss = BCE * l_eps(g).
  CHECK_THROWS_WITH_AS(losses::ghm_c_exact_loss(pred, target, none, {0.0, 1.0f}), doctest::Contains("epsilon"), Error);
}
