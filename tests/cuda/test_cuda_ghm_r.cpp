// GHM-R on CUDA against its CPU twin: random inputs with bbox and mixed weights, and per-level
// calls over several steps through one EMA state, via autograd.
// Run only where a GPU is present. Tolerances: loss_cases.h.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "cuda/loss_cases.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::cuda_loss_cases;

// ---- GHM-R ------------------------------------------------------------------------------------

TEST_CASE("cuda ghm_r: random inputs (bbox and mixed weights) equal the CPU, bins exactly") {
  Report all;
  auto check = [&](const RegProblem& p, const GhmSettings& params) {
    GhmEmaState cs(params.bins()), gs(params.bins());
    const GhmrResult cpu = ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, cs, {}, ElementWeights::Keep);
    const GhmrResult gpu = ghm_r_forward(p.pred_t().to(kGpu), p.target_t().to(kGpu), p.weight_t().to(kGpu), params,
                                         gs, {}, ElementWeights::Keep);
    all.merge(compare_runs(gpu, cpu, ref_ghm_r(p, params), Tot::WeightSum));
  };
  for_each_random_reg_case(1600, {1, 29, 301, 2003, 70001}, kPositiveFraction, check);
  MESSAGE("cuda ghm_r random: ", all.summary());
}

TEST_CASE("cuda ghm_r: per-level calls over several steps through one state, via autograd") {
  const std::vector<std::int64_t> levels{0, 6100, 8300, 9500, 9800, 9900};
  const GhmSettings params = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState cs(params.bins()), gs(params.bins());
  Report all;
  for (int step = 0; step < 4; ++step) {
    CAPTURE(step);
    const RegProblem p =
        make_reg_problem(1700 + static_cast<std::uint64_t>(step), levels.back(), false, kPositiveFraction);
    const GhmrResult cpu = ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, cs, levels);
    const GhmrResult gpu =
        ghm_r_forward(p.pred_t().to(kGpu), p.target_t().to(kGpu), p.weight_t().to(kGpu), params, gs, levels);
    all.merge(compare_runs(gpu, cpu, ref_ghm_r(p, params, levels), Tot::WeightSum));
  }
  MESSAGE("cuda ghm_r per level, 4 steps: ", all.summary());

  // The loss op: value and gradient through autograd, the state carried on from above.
  const RegProblem p = make_reg_problem(1710, levels.back(), true, kPositiveFraction);
  Tensor xc = p.pred_t(), xg = p.pred_t().to(kGpu);
  xc.set_requires_grad(true);
  xg.set_requires_grad(true);
  const Tensor lc = ghm_r_loss(xc, p.target_t(), p.weight_t(), params, cs, levels);
  const Tensor lg = ghm_r_loss(xg, p.target_t().to(kGpu), p.weight_t().to(kGpu), params, gs, levels);
  lc.backward();
  lg.backward();
  CHECK(rel(lg.item(), lc.item()) <= kLossRtol);
  CHECK(normalised(host(xg.grad()), xc.grad().to_vector<float>()) <= kGradTol);
}
