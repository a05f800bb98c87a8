// GHM-C and GHM-R gradients: autograd against central finite differences of the reference loss
// with the weights frozen (the weights are constants, as in the reference), and an upstream
// gradient scaling the result. Tolerances: ghm_problems.h and each case.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "losses/ghm_c.h"
#include "losses/ghm_problems.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::ghm_cases;

// ---- gradients --------------------------------------------------------------------------------------

namespace {

// Logits whose g = |sigmoid(x) - y| is at least `margin` away from every interior edge of
// `bins`, so a perturbation of x by eps (g moves by <= eps/4) cannot change any bin.
std::vector<float> logits_away_from_edges(Generator& gen, const std::vector<float>& y, int bins, double margin) {
  std::vector<float> x;
  for (float yi : y) {
    for (;;) {
      const float v = gen.uniform(-5.0f, 5.0f);
      const double g = std::abs(ref::sigmoid(v) - yi) * bins;
      if (std::abs(g - std::round(g)) >= margin * bins) {
        x.push_back(v);
        break;
      }
    }
  }
  return x;
}

// dL/dpred through autograd of a GHM loss (ghm_c_loss or ghm_r_loss, the same arguments) on inputs
// of `shape`, from a fresh state.
using GhmLoss = Tensor (*)(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                           const GhmSettings& settings, GhmEmaState& state, std::span<const std::int64_t> level_rows,
                           std::vector<GhmCallStats>* stats);
std::vector<float> autograd_gradient(GhmLoss loss, const std::vector<float>& pred, const std::vector<float>& target,
                                     const std::vector<float>& weight, const Shape& shape,
                                     const GhmSettings& settings) {
  Tensor x = Tensor::from_vector(pred, shape);
  x.set_requires_grad(true);
  GhmEmaState state;
  loss(x, Tensor::from_vector(target, shape), Tensor::from_vector(weight, shape), settings, state, {}, nullptr)
      .backward();
  return x.grad().to_vector<float>();
}

}  // namespace

TEST_CASE("ghm_c: the autograd gradient matches finite differences of the loss with frozen weights") {
  Generator gen(800);
  const std::int64_t n = 9, k = 3;
  std::vector<float> y(n * k, 0.0f);
  for (std::int64_t r = 0; r < n; ++r)
    if (r % 3 != 2) y[static_cast<std::size_t>(r * k + r % k)] = 1.0f;
  const std::vector<float> x = logits_away_from_edges(gen, y, 10, 0.01);
  std::vector<float> w(n * k, 1.0f);
  w[4] = 0.0f;  // one ignored element: gradient 0
  const GhmSettings params = GhmSettings::classification(10, 0.0, 1.0f);

  const std::vector<float> analytic = autograd_gradient(ghm_c_loss, x, y, w, Shape{n, k}, params);
  CHECK(analytic[4] == 0.0f);

  // (a) Against central differences of the reference loss with the weights frozen, in double
  // (eps 1e-4: truncation ~eps^2 |f'''| ~ 1e-9 of a gradient of ~1e-2): the fast gradient is
  // within float32 rounding of the exact derivative.
  ref::State ref_state;
  const ref::Result want = ref::ghm_c(x, y, w, k, ref_params(params), ref_state);
  const std::vector<double> numeric =
      central_differences({x.begin(), x.end()}, 1e-4, [&](const std::vector<double>& xd) {
        return ref::ghm_c_frozen_loss(xd, y, want.weight, want.calls[0].tot, 1.0);
      });
  const double err = ref::normalised_error(analytic, numeric);
  MESSAGE("ghm_c gradient vs double finite differences (frozen weights): normalised error ", err);
  CHECK(err <= kGradTol);

  // (b) Against central differences of our own loss (eps 1e-2 keeps every g at least 0.01 - eps/4
  // from an edge, so the bins, and so the weights, stay fixed). The loss is a float32 sum of 27
  // terms (rounding ~1e-7 * |L| ~ 1e-7), divided by 2 eps = 2e-2: noise ~1e-5, truncation
  // ~eps^2 |f'''| / 6 ~ 2e-6, against gradients up to ~0.04: atol 1e-4, rtol 1e-3.
  NoGradGuard no_grad;
  for (std::size_t e = 0; e < x.size(); ++e) {
    CAPTURE(e);
    const float eps = 1e-2f;
    std::vector<float> xp = x, xm = x;
    xp[e] += eps;
    xm[e] -= eps;
    GhmEmaState s;
    const GhmcResult rp = ghm_c_forward(Tensor::from_vector(xp, Shape{n, k}), Tensor::from_vector(y, Shape{n, k}),
                                        Tensor::from_vector(w, Shape{n, k}), params, s);
    const GhmcResult rm = ghm_c_forward(Tensor::from_vector(xm, Shape{n, k}), Tensor::from_vector(y, Shape{n, k}),
                                        Tensor::from_vector(w, Shape{n, k}), params, s);
    REQUIRE(rp.calls[0].num_in_bin == rm.calls[0].num_in_bin);  // the weights are the same
    const double fd = (rp.total - rm.total) / (static_cast<double>(xp[e]) - static_cast<double>(xm[e]));
    CHECK(std::abs(fd - analytic[e]) <= 1e-4 + 1e-3 * std::abs(analytic[e]));
  }
}

TEST_CASE("ghm_r: the autograd gradient matches finite differences of the loss with frozen weights") {
  Generator gen(801);
  const std::int64_t n = 6, d = 4;
  const float mu = 0.02f;
  std::vector<float> target, pred;
  for (std::int64_t i = 0; i < n * d; ++i) {
    const float t = gen.uniform(-1.0f, 1.0f);
    for (;;) {  // g = |d| / sqrt(d^2 + mu^2) at least 0.02 from every edge i/10
      const float delta = (gen.uniform() < 0.5f ? -1.0f : 1.0f) * gen.uniform(0.001f, 0.3f);
      const double dd = static_cast<double>(t + delta) - t;
      const double g = std::abs(dd) / std::sqrt(dd * dd + static_cast<double>(mu) * mu) * 10;
      if (std::abs(g - std::round(g)) >= 0.2) {
        target.push_back(t);
        pred.push_back(t + delta);
        break;
      }
    }
  }
  std::vector<float> w(n * d, 1.0f);
  for (std::int64_t c = 0; c < d; ++c) w[static_cast<std::size_t>(d + c)] = 0.0f;  // row 1 negative
  const GhmSettings params = GhmSettings::regression(mu, 10, 0.0, 10.0f);

  const std::vector<float> analytic = autograd_gradient(ghm_r_loss, pred, target, w, Shape{n, d}, params);

  // Central differences in double of the frozen-weight reference loss (eps 1e-7: |d| >= 1e-3 so
  // the third derivative of ASL1 is <~ 1/mu^2 ~ 2.5e3: truncation ~1e-11, rounding ~1e-9).
  ref::State ref_state;
  const ref::Result want = ref::ghm_r(pred, target, w, d, mu, ref_params(params), ref_state);
  const std::vector<double> numeric =
      central_differences({pred.begin(), pred.end()}, 1e-7, [&](const std::vector<double>& pd) {
        return ref::ghm_r_frozen_loss(pd, target, want.weight, mu, want.calls[0].tot, params.loss_weight());
      });
  const double err = ref::normalised_error(analytic, numeric);
  MESSAGE("ghm_r gradient vs double finite differences (frozen weights): normalised error ", err);
  CHECK(err <= kGradTol);
}

TEST_CASE("ghm_c and ghm_r: an upstream gradient of 2.5 scales the gradient") {
  const ClsProblem p = make_cls_problem(900, 31, 7);
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState state(params.bins());
  Tensor pred = p.pred();
  pred.set_requires_grad(true);
  const Tensor loss =
      ghm_c_loss(pred, p.target(TargetForm::LabelsI32), p.weight(WeightForm::PerElement), params, state);
  CHECK(loss.shape() == Shape{});
  mul_scalar(loss, 2.5f).backward();
  ref::State ref_state(params.bins());
  ref::Result want = ref::ghm_c(p.logits, p.ref_target(), p.weight_elem, p.k, ref_params(params), ref_state);
  for (double& g : want.grad) g *= 2.5;
  CHECK(ref::relative_error(loss.item(), want.loss) <= kLossRtol);
  CHECK(ref::normalised_error(pred.grad().to_vector<float>(), want.grad) <= kGradTol);

  const RegProblem r = make_reg_problem(901, 31, false, 0.5f);
  const GhmSettings rparams = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState rstate(rparams.bins());
  Tensor rpred = r.pred_t();
  rpred.set_requires_grad(true);
  const Tensor rloss = ghm_r_loss(rpred, r.target_t(), r.weight_t(), rparams, rstate);
  mul_scalar(rloss, 2.5f).backward();
  ref::State rref_state(rparams.bins());
  ref::Result rwant = ref::ghm_r(r.pred, r.target, r.weight, r.d, rparams.mu(), ref_params(rparams), rref_state);
  for (double& g : rwant.grad) g *= 2.5;
  CHECK(ref::relative_error(rloss.item(), rwant.loss) <= kLossRtol);
  CHECK(ref::normalised_error(rpred.grad().to_vector<float>(), rwant.grad) <= kGradTol);
}
