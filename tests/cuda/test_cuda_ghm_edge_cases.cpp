// GHM-C and GHM-R edge cases on CUDA against the CPU: every element ignored, empty inputs and
// levels, one element, g exactly on an edge or at 0 and 1, elements within float32 ulps of every
// edge (which must land in the CPU's bins).
// Run only where a GPU is present. Tolerances: loss_cases.h.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/loss_cases.h"
#include "losses/edge_probes.h"
#include "losses/ghm_c.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::cuda_loss_cases;

TEST_CASE("cuda ghm_c and ghm_r: every element ignored gives loss 0, gradient 0, tot 1, n 0, the state untouched") {
  const ClsProblem p = make_cls_problem(1400, 1111, 7);
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState state(params.bins());
  state.acc_sum[4] = 2.5f;
  const GhmcResult r = ghm_c_forward(p.pred().to(kGpu), p.target(TargetForm::OneHot).to(kGpu),
                                     Tensor::zeros(Shape{p.n}, DType::F32, kGpu), params, state, {},
                                     ElementWeights::Keep);
  CHECK(r.loss.item() == 0.0f);
  CHECK(r.total == 0.0);
  for (float g : host(r.grad)) CHECK(g == 0.0f);
  for (float w : host(r.element_weight)) CHECK(w == 0.0f);
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].tot == 1.0);
  CHECK(r.calls[0].nonempty_bins == 0);
  for (std::int64_t c : r.calls[0].num_in_bin) CHECK(c == 0);
  const std::vector<float> s = state.values();
  CHECK(s[4] == 2.5f);
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i != 4) CHECK(s[i] == 0.0f);

  // GHM-R without a positive anchor, through autograd: loss 0, gradient 0.
  const RegProblem q = make_reg_problem(1401, 333, false, kPositiveFraction);
  const GhmSettings rparams = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState rstate(rparams.bins());
  Tensor x = q.pred_t().to(kGpu);
  x.set_requires_grad(true);
  std::vector<GhmCallStats> stats;
  const Tensor loss = ghm_r_loss(x, q.target_t().to(kGpu), Tensor::zeros(Shape{q.n, q.d}, DType::F32, kGpu), rparams,
                                 rstate, {}, &stats);
  loss.backward();
  CHECK(loss.item() == 0.0f);
  for (float g : host(x.grad())) CHECK(g == 0.0f);
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].tot == 1.0);
  CHECK(stats[0].nonempty_bins == 0);
  for (float v : rstate.values()) CHECK(v == 0.0f);
}

TEST_CASE("cuda ghm_c and ghm_r: empty inputs, an empty level, one element") {
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  for (const Shape& s : {Shape{0, 5}, Shape{4, 0}}) {
    CAPTURE(s);
    GhmEmaState state(params.bins());
    const GhmcResult r = ghm_c_forward(Tensor::zeros(s, DType::F32, kGpu), Tensor::zeros(s, DType::F32, kGpu),
                                       Tensor::zeros(s, DType::F32, kGpu), params, state);
    CHECK(r.total == 0.0);
    CHECK(r.loss.item() == 0.0f);
    CHECK(r.grad.shape() == s);
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].tot == 1.0);
    for (float v : state.values()) CHECK(v == 0.0f);
  }
  const GhmSettings rparams = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState rstate(rparams.bins());
  const Tensor z = Tensor::zeros(Shape{0, 4}, DType::F32, kGpu);
  const GhmrResult rempty = ghm_r_forward(z, z, z, rparams, rstate);
  CHECK(rempty.total == 0.0);
  CHECK(rempty.loss.item() == 0.0f);

  // An empty level in the middle of a sequence: tot 1, n 0, loss 0, the state the same bits.
  const ClsProblem p = make_cls_problem(1500, 20, 3);
  const std::vector<std::int64_t> levels{0, 12, 12, 20};
  GhmEmaState cs(params.bins()), gs(params.bins());
  const GhmcResult cpu =
      ghm_c_forward(p.pred(), p.target(TargetForm::LabelsI64), p.weight(WeightForm::PerRow), params, cs, levels);
  const GhmcResult gpu = ghm_c_forward(p.pred().to(kGpu), p.target(TargetForm::LabelsI64).to(kGpu),
                                       p.weight(WeightForm::PerRow).to(kGpu), params, gs, levels);
  REQUIRE(gpu.calls.size() == 3);
  CHECK(gpu.calls[1].tot == 1.0);
  CHECK(gpu.calls[1].nonempty_bins == 0);
  CHECK(gpu.calls[1].loss == 0.0);
  CHECK(gpu.calls[1].acc_sum == gpu.calls[0].acc_sum);
  compare_runs(gpu, cpu, ref_ghm_c(p, WeightForm::PerRow, params, levels), Tot::Count);

  // One element, each target.
  for (float y : {0.0f, 1.0f}) {
    const CpuAndGpu one = run_on_both(ghm_c_forward, {0.7f}, {y}, 1, GhmSettings::classification(10, 0.0, 1.0f));
    CHECK(one.gpu.calls[0].num_in_bin == one.cpu.calls[0].num_in_bin);
    CHECK(rel(one.gpu.total, one.cpu.total) <= kLossRtol);
    CHECK(normalised(host(one.gpu.grad), one.cpu.grad.to_vector<float>()) <= kGradTol);
  }
}

TEST_CASE("cuda ghm_c and ghm_r: g exactly on an edge, 0 and 1 land in the CPU's bins") {
  // x = 0: p = 0.5 exactly on both, g = 0.5 = edge 15/30; |x| = 30 or more: g = 1 (last bin) or 0.
  const GhmSettings params = GhmSettings::classification(30, 0.0, 1.0f);
  const std::vector<float> x{0.0f, 0.0f, -30.0f, 30.0f, 30.0f, -200.0f, 1.3f, -2.2f, 0.4f};
  const std::vector<float> y{0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f};
  const auto [cpu, gpu] = run_on_both(ghm_c_forward, x, y, 1, params);
  CHECK(gpu.calls[0].num_in_bin == cpu.calls[0].num_in_bin);
  CHECK(gpu.calls[0].num_in_bin[15] == 2);
  CHECK(gpu.calls[0].num_in_bin[29] == 2);
  CHECK(gpu.calls[0].num_in_bin[0] == 2);
  CHECK(rel(gpu.total, cpu.total) <= kLossRtol);

  // GHM-R with mu = 0.75: d = 1 gives s = 1.25 and g = 0.8 = edge 8/10, d = 0.5625 gives s = 0.9375
  // and g = 0.6 = edge 6/10, all exact in float32 (3-4-5 triangles); d = 0 is g = 0.
  const GhmSettings rparams = GhmSettings::regression(0.75f, 10, 0.0, 1.0f);
  const std::vector<float> pred{1.0f, -1.0f, 0.5625f, -0.5625f, 0.0f, 0.2f, -3.0f, 40.0f};
  const auto [rcpu, rgpu] = run_on_both(ghm_r_forward, pred, std::vector<float>(pred.size(), 0.0f), 4, rparams);
  CHECK(rgpu.calls[0].num_in_bin == rcpu.calls[0].num_in_bin);
  CHECK(rgpu.calls[0].num_in_bin[8] == 2);
  CHECK(rgpu.calls[0].num_in_bin[6] == 2);
  CHECK(rgpu.calls[0].num_in_bin[0] == 1);
  CHECK(rel(rgpu.total, rcpu.total) <= kLossRtol);
  CHECK(normalised(host(rgpu.grad), rcpu.grad.to_vector<float>()) <= kGradTol);
}

TEST_CASE("cuda ghm_c and ghm_r: elements within float32 ulps of every edge land in the CPU's bins") {
  // For every interior edge: the float32 logits nearest to its pre-image and their neighbours up to
  // 4 ulps away (y = 0 and y = 1), every one of them within rounding of the edge. Both backends
  // bin these from the same double-precision g, so the counts are equal here too.
  const GhmSettings params = GhmSettings::classification(30, 0.0, 1.0f);
  const testing::EdgeProbes probes = testing::ghmc_edge_probes(params.bins());
  const std::vector<float>&x = probes.logits, &y = probes.labels;
  const auto [cpu, gpu] = run_on_both(ghm_c_forward, x, y, 1, params);
  ref::State rs;
  const ref::Result near = ref::ghm_c(x, y, std::vector<float>(x.size(), 1.0f), 1, ref_params(params), rs);
  CHECK(near.calls[0].near_total == static_cast<std::int64_t>(x.size()));
  MESSAGE("cuda ghm_c at the edges: ", compare_runs(gpu, cpu, near, Tot::Count).summary());

  const GhmSettings rparams = GhmSettings::regression(0.02f, 10, 0.0, 1.0f);
  const testing::RegEdgeProbes rprobes = testing::ghmr_edge_probes(rparams.bins(), rparams.mu());
  const auto [rcpu, rgpu] = run_on_both(ghm_r_forward, rprobes.pred, rprobes.target, 4, rparams);
  ref::State rrs;
  const ref::Result rnear = ref::ghm_r(rprobes.pred, rprobes.target, std::vector<float>(rprobes.pred.size(), 1.0f), 4,
                                       rparams.mu(), ref_params(rparams), rrs);
  MESSAGE("cuda ghm_r at the edges: ", compare_runs(rgpu, rcpu, rnear, Tot::WeightSum).summary());
}
