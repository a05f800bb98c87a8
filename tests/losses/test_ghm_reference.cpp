// GHM-C and GHM-R against the brute-force float64 reference (reference_losses.h), written from
// the spec of the reference behaviour (GHM_SEMANTICS.md sections 1.1-1.4) independently of
// losses/: the reference's own sanity (edges, finite differences), then random inputs of odd
// sizes in every target / weight form. Tolerances: ghm_problems.h.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "losses/ghm_c.h"
#include "losses/ghm_problems.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::ghm_cases;

// ---- the reference itself ----------------------------------------------------------------------

TEST_CASE("reference: float32 edges and gradients that match finite differences of its own loss") {
  const std::vector<float> edges = ref::ghm_edges(30, ref::ghm_c_last_edge());
  CHECK(edges[15] == 0.5f);                         // 15/30 is exact
  CHECK(edges[30] == 1.0f + 8.0f * 1.1920929e-7f);  // 1.00000095 (spec 1.1, step 2)
  CHECK(ref::find_bin(0.5, edges) == 15);           // half-open: the edge opens bin 15
  CHECK(ref::find_bin(1.0, edges) == 29);           // g == 1 is in the last bin
  CHECK(ref::find_bin(0.0, edges) == 0);
  CHECK(ref::find_bin(std::nan(""), edges) == -1);

  // Without momentum the weights of the valid elements sum to tot (spec 1.1, step 5).
  const ClsProblem p = make_cls_problem(7, 41, 5);
  ref::State state;
  const ref::Result r = ref::ghm_c(p.logits, p.ref_target(), p.weight_elem, p.k, {30, 0.0, 1.0}, state);
  double sum_w = 0;
  for (double w : r.weight) sum_w += w;
  CHECK(sum_w == doctest::Approx(r.calls[0].tot).epsilon(1e-12));

  // d/dx of the frozen-weight loss by central differences in double (eps 1e-5: truncation
  // ~eps^2 |f'''| / 6 ~ 1e-11 w / tot, rounding ~1e-16 |L| / 1e-5 ~ 1e-11, against a largest
  // gradient of ~1e-2): normalised error 1e-6.
  const std::vector<double> numeric =
      central_differences({p.logits.begin(), p.logits.end()}, 1e-5, [&](const std::vector<double>& x) {
        return ref::ghm_c_frozen_loss(x, p.ref_target(), r.weight, r.calls[0].tot, 1.0);
      });
  const std::vector<float> ref_grad(r.grad.begin(), r.grad.end());
  CHECK(ref::normalised_error(ref_grad, numeric) <= 1e-6);
}

// ---- random inputs against the reference --------------------------------------------------------

TEST_CASE("ghm_c: random inputs in every target and weight form match the reference") {
  Errors all;
  auto check = [&](const ClsProblem& p, TargetForm tf, WeightForm wf, const GhmSettings& params) {
    GhmEmaState state(params.bins());
    const GhmcResult ours = ghm_c_forward(p.pred(), p.target(tf), p.weight(wf), params, state, {}, ElementWeights::Keep);
    ref::State ref_state(params.bins());
    const ref::Result want =
        ref::ghm_c(p.logits, p.ref_target(), p.ref_weight(wf), p.k, ref_params(params), ref_state);
    all.merge(compare(ours, want, params.has_momentum()));
  };
  for_each_random_cls_case(100, {{37, 1}, {53, 7}, {13, 80}, {1001, 7}}, check);
  MESSAGE("ghm_c random: ", all.summary());
}

TEST_CASE("ghm_r: random inputs match the reference (bbox weights and mixed weights)") {
  Errors all;
  auto check = [&](const RegProblem& p, const GhmSettings& params) {
    GhmEmaState state(params.bins());
    const GhmrResult ours =
        ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, state, {}, ElementWeights::Keep);
    ref::State ref_state(params.bins());
    const ref::Result want = ref::ghm_r(p.pred, p.target, p.weight, p.d, params.mu(), ref_params(params), ref_state);
    all.merge(compare(ours, want, params.has_momentum()));
  };
  for_each_random_reg_case(200, {1, 29, 301, 2003}, 0.3f, check);
  MESSAGE("ghm_r random: ", all.summary());
}
