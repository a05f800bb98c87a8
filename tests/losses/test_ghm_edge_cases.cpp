// GHM-C and GHM-R edge cases against the reference: every element ignored, empty inputs and
// levels, g exactly on an edge or at 0 and 1, elements within float32 ulps of every edge, GHM-R's
// weight sum and saturated g. Tolerances: ghm_problems.h.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "losses/edge_probes.h"
#include "losses/ghm_c.h"
#include "losses/ghm_problems.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::ghm_cases;

// ---- edge cases ---------------------------------------------------------------------------------

TEST_CASE("ghm_c: every element ignored gives loss 0 and gradient 0 with tot 1 and n 0 and the state untouched") {
  const ClsProblem p = make_cls_problem(600, 11, 3);
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState state(params.bins());
  state.acc_sum[4] = 2.5f;
  Tensor pred = p.pred();
  pred.set_requires_grad(true);
  std::vector<GhmCallStats> stats;
  const Tensor loss =
      ghm_c_loss(pred, p.target(TargetForm::OneHot), Tensor::zeros(Shape{p.n}), params, state, {}, &stats);
  loss.backward();
  CHECK(loss.item() == 0.0f);
  for (float g : pred.grad().to_vector<float>()) CHECK(g == 0.0f);
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].tot == 1.0);
  CHECK(stats[0].nonempty_bins == 0);
  for (std::int64_t c : stats[0].num_in_bin) CHECK(c == 0);
  CHECK(state.acc_sum[4] == 2.5f);   // empty bins keep their value (spec 1.3)
  CHECK(loss.grad_fn() != nullptr);  // still part of the graph
}

TEST_CASE("ghm_c and ghm_r: empty input (N = 0) and an empty level") {
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState state(params.bins());
  const GhmcResult empty =
      ghm_c_forward(Tensor::zeros(Shape{0, 5}), Tensor::zeros(Shape{0, 5}), Tensor::zeros(Shape{0, 5}), params, state);
  CHECK(empty.total == 0.0);
  CHECK(empty.loss.item() == 0.0f);
  CHECK(empty.grad.shape() == Shape{0, 5});
  for (float s : state.acc_sum) CHECK(s == 0.0f);

  const GhmSettings rparams = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState rstate(rparams.bins());
  const GhmrResult rempty = ghm_r_forward(Tensor::zeros(Shape{0, 4}), Tensor::zeros(Shape{0, 4}),
                                          Tensor::zeros(Shape{0, 4}), rparams, rstate);
  CHECK(rempty.total == 0.0);
  CHECK(rempty.grad.shape() == Shape{0, 4});

  // A level with no rows in the middle of a sequence: tot 1, n 0, loss 0, the state untouched.
  const ClsProblem p = make_cls_problem(601, 20, 3);
  const std::vector<std::int64_t> levels{0, 12, 12, 20};
  GhmEmaState lstate(params.bins());
  const GhmcResult ours =
      ghm_c_forward(p.pred(), p.target(TargetForm::LabelsI64), p.weight(WeightForm::PerRow), params, lstate, levels);
  REQUIRE(ours.calls.size() == 3);
  CHECK(ours.calls[1].tot == 1.0);
  CHECK(ours.calls[1].nonempty_bins == 0);
  CHECK(ours.calls[1].loss == 0.0);
  CHECK(ours.calls[1].acc_sum == ours.calls[0].acc_sum);  // untouched: the very same bits
  ref::State ref_state(params.bins());
  compare(ours,
          ref::ghm_c(p.logits, p.ref_target(), p.ref_weight(WeightForm::PerRow), p.k, ref_params(params), ref_state,
                     levels),
          true);
}

TEST_CASE("ghm_c: one element and g exactly on an edge or equal to 1 or 0 land in the right bins") {
  const GhmSettings params = GhmSettings::classification(30, 0.0, 1.0f);
  GhmEmaState state;

  SUBCASE("one element at x = 0: p = 0.5 exactly, g = 0.5 = edge 15/30 opens bin 15") {
    for (float y : {0.0f, 1.0f}) {
      CAPTURE(y);
      const GhmcResult r =
          ghm_c_forward(Tensor::from_vector<float>({0.0f}, Shape{1, 1}), Tensor::from_vector<float>({y}, Shape{1, 1}),
                        Tensor::ones(Shape{1, 1}), params, state);
      CHECK(r.calls[0].num_in_bin[15] == 1);
      CHECK(r.calls[0].nonempty_bins == 1);
      CHECK(r.calls[0].tot == 1.0);
      // w = tot / (R n) = 1, so the loss is BCE(0, y) = log 2 and the gradient p - y = +-0.5.
      CHECK(ref::relative_error(r.total, std::log(2.0)) <= kLossRtol);
      CHECK(r.grad.to_vector<float>()[0] == doctest::Approx(0.5 - y).epsilon(1e-7));
    }
  }
  SUBCASE("saturated wrong predictions (g = 1 in float32) fall in the last bin") {
    // x = -30, y = 1: p = 9.4e-14, g = 1 - p rounds to 1.0f; x = 30, y = 0: p rounds to 1.0f.
    const GhmcResult r = ghm_c_forward(Tensor::from_vector<float>({-30.0f, 30.0f, -100.0f}, Shape{3, 1}),
                                       Tensor::from_vector<float>({1.0f, 0.0f, 1.0f}, Shape{3, 1}),
                                       Tensor::ones(Shape{3}), params, state);
    CHECK(r.calls[0].num_in_bin[29] == 3);
    CHECK(r.calls[0].nonempty_bins == 1);
    // tot = 3, one bin: w = 1, and BCE = |x| + log1p(exp(-|x|)) ~ |x|, so L = (30 + 30 + 100) / 3.
    CHECK(ref::relative_error(r.total, (30.0 + 30.0 + 100.0) / 3.0) <= kLossRtol);
  }
  SUBCASE("saturated right predictions (g = 0) fall in bin 0") {
    const GhmcResult r =
        ghm_c_forward(Tensor::from_vector<float>({30.0f, -200.0f}, Shape{2, 1}),
                      Tensor::from_vector<float>({1.0f, 0.0f}, Shape{2, 1}), Tensor::ones(Shape{2, 1}), params, state);
    CHECK(r.calls[0].num_in_bin[0] == 2);
    CHECK(r.calls[0].nonempty_bins == 1);
  }
  SUBCASE("a mix of edge, saturated and ordinary elements matches the reference") {
    const std::vector<float> x{0.0f, 0.0f, -30.0f, 30.0f, 30.0f, -200.0f, 1.3f, -2.2f, 0.4f};
    const std::vector<float> y{0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f};
    const std::vector<float> w(9, 1.0f);
    const GhmcResult r = ghm_c_forward(Tensor::from_vector(x, Shape{9, 1}), Tensor::from_vector(y, Shape{9, 1}),
                                       Tensor::from_vector(w, Shape{9, 1}), params, state);
    CHECK(r.calls[0].num_in_bin[15] == 2);
    CHECK(r.calls[0].num_in_bin[29] == 2);
    CHECK(r.calls[0].num_in_bin[0] == 2);
    ref::State ref_state;
    const ref::Result want = ref::ghm_c(x, y, w, 1, ref_params(params), ref_state);
    CHECK(want.calls[0].near_total == 2);                      // the two g = 0.5 elements sit on edge 15
    CHECK(want.calls[0].num_in_bin == r.calls[0].num_in_bin);  // exact: 0.5 is exact in both
    compare(r, want, false);
  }
}

TEST_CASE("ghm_c and ghm_r: elements within float32 ulps of every edge move at most to a neighbouring bin") {
  // For every interior edge e_j: the float32 logits nearest to the exact pre-image of e_j (for
  // y = 0, p = e_j; for y = 1, p = 1 - e_j) and their neighbours up to 4 ulps away. Their double
  // g lies within a few 1e-8 of e_j, so the reference flags them all; which side the fast float32
  // g falls on depends on its rounding, and the counts may differ only by those elements.
  const GhmSettings params = GhmSettings::classification(30, 0.0, 1.0f);
  const testing::EdgeProbes probes = testing::ghmc_edge_probes(params.bins());
  const std::vector<float>&x = probes.logits, &y = probes.labels;
  const auto n = static_cast<std::int64_t>(x.size());
  const std::vector<float> w(x.size(), 1.0f);
  GhmEmaState state;
  const GhmcResult ours = ghm_c_forward(Tensor::from_vector(x, Shape{n, 1}), Tensor::from_vector(y, Shape{n, 1}),
                                        Tensor::from_vector(w, Shape{n, 1}), params, state);
  ref::State ref_state;
  const ref::Result want = ref::ghm_c(x, y, w, 1, ref_params(params), ref_state);
  CHECK(want.calls[0].near_total == n);
  const Errors err = compare(ours, want, false);
  MESSAGE("ghm_c at the edges: ", err.summary());

  // GHM-R: d = mu g / sqrt(1 - g^2) gives g = e_j; the float32 d nearest to it and neighbours.
  const GhmSettings rparams = GhmSettings::regression(0.02f, 10, 0.0, 1.0f);
  const testing::RegEdgeProbes rprobes = testing::ghmr_edge_probes(rparams.bins(), rparams.mu());
  const std::vector<float>&pred = rprobes.pred, &target = rprobes.target;
  const Shape rs{rprobes.rows(), 4};
  const std::vector<float> rw(pred.size(), 1.0f);
  GhmEmaState rstate;
  const GhmrResult rours = ghm_r_forward(Tensor::from_vector(pred, rs), Tensor::from_vector(target, rs),
                                         Tensor::from_vector(rw, rs), rparams, rstate);
  ref::State rref_state;
  const ref::Result rwant = ref::ghm_r(pred, target, rw, 4, rparams.mu(), ref_params(rparams), rref_state);
  CHECK(rwant.calls[0].near_total == static_cast<std::int64_t>(pred.size()));
  const Errors rerr = compare(rours, rwant, false);
  MESSAGE("ghm_r at the edges: ", rerr.summary());
}

TEST_CASE("ghm_r: weights of 2 leave the loss unchanged (tot is the sum) and no positives gives 0") {
  const RegProblem p = make_reg_problem(700, 50, false, 0.4f);
  for (double momentum : {0.0, 0.7}) {
    CAPTURE(momentum);
    const GhmSettings params = GhmSettings::regression(0.02f, 10, momentum, 10.0f);
    std::vector<float> twice = p.weight;
    for (float& w : twice) w *= 2.0f;
    GhmEmaState s1(params.bins()), s2(params.bins());
    const GhmrResult r1 = ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, s1);
    const GhmrResult r2 =
        ghm_r_forward(p.pred_t(), p.target_t(), Tensor::from_vector(twice, Shape{p.n, p.d}), params, s2);
    CHECK(r2.calls[0].tot == doctest::Approx(2 * r1.calls[0].tot).epsilon(1e-12));
    // The same arithmetic up to an exact factor of 2 in tot and w: equal to float32 rounding.
    CHECK(ref::relative_error(r2.total, r1.total) <= 1e-6);
    const std::vector<float> g1 = r1.grad.to_vector<float>();
    CHECK(ref::normalised_error(r2.grad.to_vector<float>(), std::vector<double>(g1.begin(), g1.end())) <= 1e-6);
    ref::State ref_state(params.bins());
    compare(r2, ref::ghm_r(p.pred, p.target, twice, p.d, params.mu(), ref_params(params), ref_state), momentum > 0);
  }

  const GhmSettings params = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState state(params.bins());
  Tensor pred = p.pred_t();
  pred.set_requires_grad(true);
  std::vector<GhmCallStats> stats;
  const Tensor loss = ghm_r_loss(pred, p.target_t(), Tensor::zeros(Shape{p.n, p.d}), params, state, {}, &stats);
  loss.backward();
  CHECK(loss.item() == 0.0f);
  for (float g : pred.grad().to_vector<float>()) CHECK(g == 0.0f);
  CHECK(stats[0].tot == 1.0);
  CHECK(stats[0].nonempty_bins == 0);
  for (float s : state.acc_sum) CHECK(s == 0.0f);
}

TEST_CASE("ghm_r: d = 0 is in bin 0 and a huge d (g = 1 in float32) in the last bin") {
  const GhmSettings params = GhmSettings::regression(0.02f, 10, 0.0, 1.0f);
  GhmEmaState state;
  const std::vector<float> pred{0.5f, 1000.0f, -1000.0f, 0.01f};
  const std::vector<float> target{0.5f, 0.0f, 0.0f, 0.0f};
  const std::vector<float> w{1.0f, 1.0f, 1.0f, 1.0f};
  const GhmrResult r = ghm_r_forward(Tensor::from_vector(pred, Shape{1, 4}), Tensor::from_vector(target, Shape{1, 4}),
                                     Tensor::from_vector(w, Shape{1, 4}), params, state);
  CHECK(r.calls[0].num_in_bin[0] == 1);
  CHECK(r.calls[0].num_in_bin[9] == 2);
  ref::State ref_state;
  compare(r, ref::ghm_r(pred, target, w, 4, params.mu(), ref_params(params), ref_state), false);
}
