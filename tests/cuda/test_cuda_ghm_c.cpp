// GHM-C on CUDA against its CPU twin on the same random inputs: every target and weight form,
// sizes that are not multiples of the block or the tile, a single element; per-level sequences
// through one EMA state over several steps and the batch scope; the no-sync loss path through
// autograd.
// Run only where a GPU is present. Tolerances: loss_cases.h.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "cuda/loss_cases.h"
#include "losses/ghm_c.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::cuda_loss_cases;

// ---- GHM-C ------------------------------------------------------------------------------------

TEST_CASE("cuda ghm_c: random inputs in every target and weight form equal the CPU, bins exactly") {
  Report all;
  // One element; K = 1; several tiles; K above the block size (the row walk); 4099 x 80: 81 tiles.
  auto check = [&](const ClsProblem& p, TargetForm tf, WeightForm wf, const GhmSettings& params) {
    GhmEmaState cpu_state(params.bins()), gpu_state(params.bins());
    const GhmcResult cpu =
        ghm_c_forward(p.pred(), p.target(tf), p.weight(wf), params, cpu_state, {}, ElementWeights::Keep);
    const GhmcResult gpu = ghm_c_forward(p.pred().to(kGpu), p.target(tf).to(kGpu), p.weight(wf).to(kGpu), params,
                                         gpu_state, {}, ElementWeights::Keep);
    all.merge(compare_runs(gpu, cpu, ref_ghm_c(p, wf, params), Tot::Count));
    CHECK(gpu_state.on_device == params.has_momentum());
    const std::vector<float> s = gpu_state.values();
    for (std::size_t i = 0; i < s.size(); ++i) CHECK(rel(s[i], cpu_state.acc_sum[i]) <= kWeightRtol);
  };
  for_each_random_cls_case(1100, {{1, 1}, {37, 1}, {53, 7}, {1001, 7}, {3, 300}, {257, 256}, {4099, 80}}, check);
  MESSAGE("cuda ghm_c random: ", all.summary());
}

TEST_CASE("cuda ghm_c: per-level calls through one EMA state over several steps, and the batch scope") {
  // Five levels (the last two small, so bins go empty and must keep S), 80 classes, several tiles
  // per level; four iterations carry the state on.
  const std::vector<std::int64_t> levels{0, 2000, 2500, 2625, 2660, 2669};
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState cpu_state(params.bins()), gpu_state(params.bins());
  Report all;
  for (int step = 0; step < 4; ++step) {
    CAPTURE(step);
    const ClsProblem p = make_cls_problem(1200 + static_cast<std::uint64_t>(step), levels.back(), 80);
    const GhmcResult cpu = ghm_c_forward(p.pred(), p.target(TargetForm::LabelsI64), p.weight(WeightForm::PerRow),
                                         params, cpu_state, levels, ElementWeights::Keep);
    const GhmcResult gpu = ghm_c_forward(p.pred().to(kGpu), p.target(TargetForm::LabelsI64).to(kGpu),
                                         p.weight(WeightForm::PerRow).to(kGpu), params, gpu_state, levels,
                                         ElementWeights::Keep);
    REQUIRE(gpu.calls.size() == 5);
    all.merge(compare_runs(gpu, cpu, ref_ghm_c(p, WeightForm::PerRow, params, levels), Tot::Count));
  }
  const std::vector<float> s = gpu_state.values();
  for (std::size_t i = 0; i < s.size(); ++i) CHECK(rel(s[i], cpu_state.acc_sum[i]) <= kWeightRtol);
  MESSAGE("cuda ghm_c per level, 4 steps: ", all.summary());

  // Batch scope: one density over all rows.
  const ClsProblem p = make_cls_problem(1210, 3001, 80);
  GhmEmaState cb(params.bins()), gb(params.bins());
  const GhmcResult cpu = ghm_c_forward(p.pred(), p.target(TargetForm::OneHot), p.weight(WeightForm::PerElement), params,
                                       cb, {}, ElementWeights::Keep);
  const GhmcResult gpu = ghm_c_forward(p.pred().to(kGpu), p.target(TargetForm::OneHot).to(kGpu),
                                       p.weight(WeightForm::PerElement).to(kGpu), params, gb, {}, ElementWeights::Keep);
  REQUIRE(gpu.calls.size() == 1);
  MESSAGE("cuda ghm_c batch scope: ",
          compare_runs(gpu, cpu, ref_ghm_c(p, WeightForm::PerElement, params), Tot::Count).summary());
}

TEST_CASE("cuda ghm_c: the loss through autograd (no statistics asked) equals the CPU's, and backward scales") {
  const std::vector<std::int64_t> levels{0, 300, 380, 401};
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  const ClsProblem p = make_cls_problem(1300, levels.back(), 80);
  GhmEmaState cpu_state(params.bins()), gpu_state(params.bins());
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    Tensor xc = p.pred(), xg = p.pred().to(kGpu);
    xc.set_requires_grad(true);
    xg.set_requires_grad(true);
    std::vector<GhmCallStats> cpu_stats, gpu_stats;
    const Tensor lc = ghm_c_loss(xc, p.target(TargetForm::LabelsI32), p.weight(WeightForm::PerRow), params, cpu_state,
                                 levels, &cpu_stats);
    const Tensor lg = ghm_c_loss(xg, p.target(TargetForm::LabelsI32).to(kGpu), p.weight(WeightForm::PerRow).to(kGpu),
                                 params, gpu_state, levels, step == 1 ? &gpu_stats : nullptr);
    CHECK(lg.device() == kGpu);
    CHECK(lg.dim() == 0);
    CHECK(lg.grad_fn() != nullptr);
    // An upstream gradient of 2.5 on the device: the stored gradient, scaled there.
    lc.backward(Tensor::full(Shape{}, 2.5));
    lg.backward(Tensor::full(Shape{}, 2.5, DType::F32, kGpu));
    if (step == 1) {
      REQUIRE(gpu_stats.size() == cpu_stats.size());
      for (std::size_t c = 0; c < cpu_stats.size(); ++c) CHECK(gpu_stats[c].num_in_bin == cpu_stats[c].num_in_bin);
    }
    CHECK(rel(lg.item(), lc.item()) <= kLossRtol);
    CHECK(xg.grad().device() == kGpu);
    CHECK(normalised(host(xg.grad()), xc.grad().to_vector<float>()) <= kGradTol);
  }
}
