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
  std::vector<double> x(p.logits.begin(), p.logits.end()), numeric(x.size());
  for (std::size_t e = 0; e < x.size(); ++e) {
    const double eps = 1e-5, saved = x[e];
    x[e] = saved + eps;
    const double lp = ref::ghm_c_frozen_loss(x, p.ref_target(), r.weight, r.calls[0].tot, 1.0);
    x[e] = saved - eps;
    const double lm = ref::ghm_c_frozen_loss(x, p.ref_target(), r.weight, r.calls[0].tot, 1.0);
    x[e] = saved;
    numeric[e] = (lp - lm) / (2 * eps);
  }
  const std::vector<float> ref_grad(r.grad.begin(), r.grad.end());
  CHECK(ref::normalised_error(ref_grad, numeric) <= 1e-6);
}

// ---- random inputs against the reference --------------------------------------------------------

TEST_CASE("ghm_c: random inputs in every target and weight form match the reference") {
  struct Size {
    std::int64_t n, k;
  };
  Errors all;
  std::uint64_t seed = 100;
  for (const Size size : {Size{37, 1}, Size{53, 7}, Size{13, 80}, Size{1001, 7}}) {
    const ClsProblem p = make_cls_problem(seed++, size.n, size.k);
    for (TargetForm tf : {TargetForm::OneHot, TargetForm::LabelsI64, TargetForm::LabelsI32})
      for (WeightForm wf : {WeightForm::PerElement, WeightForm::PerRow})
        for (double momentum : {0.0, 0.75}) {
          CAPTURE(size.n);
          CAPTURE(size.k);
          CAPTURE(name(tf));
          CAPTURE(name(wf));
          CAPTURE(momentum);
          const GhmSettings params = GhmSettings::classification(30, momentum, 1.0f);
          GhmEmaState state(params.bins());
          const GhmcResult ours =
              ghm_c_forward(p.pred(), p.target(tf), p.weight(wf), params, state, {}, ElementWeights::Keep);
          ref::State ref_state(params.bins());
          const ref::Result want =
              ref::ghm_c(p.logits, p.ref_target(), p.ref_weight(wf), p.k, ref_params(params), ref_state);
          all.merge(compare(ours, want, momentum > 0));
        }
  }
  MESSAGE("ghm_c random: ", all.summary());
}

TEST_CASE("ghm_r: random inputs match the reference (bbox weights and mixed weights)") {
  Errors all;
  std::uint64_t seed = 200;
  for (std::int64_t n : {1, 29, 301, 2003})
    for (bool mixed : {false, true})
      for (double momentum : {0.0, 0.7}) {
        CAPTURE(n);
        CAPTURE(mixed);
        CAPTURE(momentum);
        const RegProblem p = make_reg_problem(seed++, n, mixed);
        const GhmSettings params = GhmSettings::regression(0.02f, 10, momentum, 10.0f);
        GhmEmaState state(params.bins());
        const GhmrResult ours =
            ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, state, {}, ElementWeights::Keep);
        ref::State ref_state(params.bins());
        const ref::Result want = ref::ghm_r(p.pred, p.target, p.weight, p.d, params.mu(), ref_params(params), ref_state);
        all.merge(compare(ours, want, momentum > 0));
      }
  MESSAGE("ghm_r random: ", all.summary());
}
