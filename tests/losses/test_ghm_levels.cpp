// GHM-C and GHM-R over FPN levels: per-level calls through one EMA state against separate
// reference calls (GHM_SEMANTICS.md 1.3), and the Batch scope as one call over every row.
// Tolerances: ghm_problems.h.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "losses/ghm_c.h"
#include "losses/ghm_problems.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::ghm_cases;

// ---- EMA over per-level calls ---------------------------------------------------------------------

TEST_CASE("ghm_c: a per-level sequence through one EMA state equals separate reference calls") {
  // Five levels of 47, 24, 13, 5 and 2 rows (K = 7): the small levels leave bins empty, whose S
  // must keep its value (spec 1.3). Two iterations, so the state also carries across calls.
  const std::vector<std::int64_t> levels{0, 47, 71, 84, 89, 91};
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState state(params.bins());
  ref::State ref_state(params.bins());
  Errors all;
  for (int iteration = 0; iteration < 2; ++iteration) {
    CAPTURE(iteration);
    const ClsProblem p = make_cls_problem(300 + static_cast<std::uint64_t>(iteration), 91, 7);
    std::vector<GhmCallStats> stats;
    Tensor pred = p.pred();
    pred.set_requires_grad(true);
    const Tensor loss =
        ghm_c_loss(pred, p.target(TargetForm::LabelsI64), p.weight(WeightForm::PerRow), params, state, levels, &stats);
    loss.backward();
    REQUIRE(stats.size() == 5);
    const std::vector<float> grad = pred.grad().to_vector<float>();

    // The reference: five separate calls sharing one state, each on its level's rows.
    double ref_total = 0;
    std::vector<double> ref_grad;
    const std::vector<float> y = p.ref_target(), w = p.ref_weight(WeightForm::PerRow);
    for (std::size_t l = 0; l + 1 < levels.size(); ++l) {
      CAPTURE(l);
      const auto b = static_cast<std::ptrdiff_t>(levels[l] * p.k), e = static_cast<std::ptrdiff_t>(levels[l + 1] * p.k);
      const ref::Result want = ref::ghm_c({p.logits.begin() + b, p.logits.begin() + e}, {y.begin() + b, y.begin() + e},
                                          {w.begin() + b, w.begin() + e}, p.k, ref_params(params), ref_state);
      GhmResult one;
      one.calls = {stats[l]};
      one.total = stats[l].loss;
      one.loss = Tensor::scalar(static_cast<float>(stats[l].loss));
      one.grad = Tensor::from_vector(std::vector<float>(grad.begin() + b, grad.begin() + e),
                                     Shape{levels[l + 1] - levels[l], p.k});
      all.merge(compare(one, want, true));
      // The acc_sum after this call is the reference state after its l-th call.
      for (std::size_t i = 0; i < ref_state.acc_sum.size(); ++i)
        CHECK(ref::relative_error(stats[l].acc_sum[i], ref_state.acc_sum[i]) <= kStateRtol);
      ref_total += want.loss;
      ref_grad.insert(ref_grad.end(), want.grad.begin(), want.grad.end());
    }
    CHECK(ref::relative_error(loss.item(), ref_total) <= kLossRtol);
    CHECK(ref::normalised_error(pred.grad().to_vector<float>(), ref_grad) <= kGradTol);
    for (std::size_t i = 0; i < state.acc_sum.size(); ++i)
      CHECK(ref::relative_error(state.acc_sum[i], ref_state.acc_sum[i]) <= kStateRtol);
  }
  MESSAGE("ghm_c per-level EMA: ", all.summary());
}

TEST_CASE("ghm_r: a per-level sequence (momentum 0.7, 10 bins, loss_weight 10) equals separate reference calls") {
  const std::vector<std::int64_t> levels{0, 61, 83, 95, 98, 99};
  const GhmSettings params = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState state(params.bins());
  ref::State ref_state(params.bins());
  Errors all;
  for (int iteration = 0; iteration < 2; ++iteration) {
    CAPTURE(iteration);
    const RegProblem p = make_reg_problem(400 + static_cast<std::uint64_t>(iteration), 99, false, 0.5f);
    const GhmrResult ours = ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, state, levels);
    REQUIRE(ours.calls.size() == 5);
    ref::Result want;
    for (std::size_t l = 0; l + 1 < levels.size(); ++l) {
      const auto b = static_cast<std::ptrdiff_t>(levels[l] * p.d), e = static_cast<std::ptrdiff_t>(levels[l + 1] * p.d);
      ref::Result one =
          ref::ghm_r({p.pred.begin() + b, p.pred.begin() + e}, {p.target.begin() + b, p.target.begin() + e},
                     {p.weight.begin() + b, p.weight.begin() + e}, p.d, params.mu(), ref_params(params), ref_state);
      want.loss += one.loss;
      want.grad.insert(want.grad.end(), one.grad.begin(), one.grad.end());
      want.calls.push_back(one.calls[0]);
    }
    all.merge(compare(ours, want, true));  // checks each call's acc_sum against the reference state after it
    for (std::size_t i = 0; i < state.acc_sum.size(); ++i)
      CHECK(ref::relative_error(state.acc_sum[i], ref_state.acc_sum[i]) <= kStateRtol);
  }
  MESSAGE("ghm_r per-level EMA: ", all.summary());
}

TEST_CASE("ghm: Batch scope (empty level_rows) is one call over every row") {
  const ClsProblem p = make_cls_problem(500, 91, 7);
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState batch_state(params.bins());
  const GhmcResult ours =
      ghm_c_forward(p.pred(), p.target(TargetForm::OneHot), p.weight(WeightForm::PerElement), params, batch_state);
  REQUIRE(ours.calls.size() == 1);
  ref::State ref_state(params.bins());
  const ref::Result want = ref::ghm_c(p.logits, p.ref_target(), p.weight_elem, p.k, ref_params(params), ref_state);
  const Errors err = compare(ours, want, true);
  MESSAGE("ghm_c batch scope: ", err.summary());

  // The same rows split into levels give another loss (spec 1.3: not equivalent).
  GhmEmaState level_state(params.bins());
  const std::vector<std::int64_t> levels{0, 47, 71, 84, 89, 91};
  const GhmcResult per_level = ghm_c_forward(p.pred(), p.target(TargetForm::OneHot), p.weight(WeightForm::PerElement),
                                             params, level_state, levels);
  CHECK(per_level.calls.size() == 5);
  CHECK(ref::relative_error(per_level.total, ours.total) > 1e-3);

  const RegProblem r = make_reg_problem(501, 77, false, 0.5f);
  const GhmSettings rparams = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState rstate(rparams.bins());
  const GhmrResult rours = ghm_r_forward(r.pred_t(), r.target_t(), r.weight_t(), rparams, rstate);
  REQUIRE(rours.calls.size() == 1);
  ref::State rref_state(rparams.bins());
  compare(rours, ref::ghm_r(r.pred, r.target, r.weight, r.d, rparams.mu(), ref_params(rparams), rref_state), true);
}
