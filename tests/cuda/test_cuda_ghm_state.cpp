// GHM on CUDA: run-to-run determinism (the same bits), the EMA state moving between devices with
// the calls (and checkpoints reading it), and bad arguments as errors naming them.
// Run only where a GPU is present. Tolerances: loss_cases.h.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/loss_cases.h"
#include "losses/ghm_c.h"
#include "losses/ghm_c_exact.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::cuda_loss_cases;

// ---- determinism and the state ------------------------------------------------------------------

TEST_CASE("cuda ghm_c and ghm_r: two runs give the same bits") {
  const ClsProblem p = make_cls_problem(1800, 25001, 80);  // 2M elements, 489 tiles
  const std::vector<std::int64_t> levels{0, 18000, 22500, 24000, 24800, 25001};
  const Tensor x = p.pred().to(kGpu), t = p.target(TargetForm::LabelsI64).to(kGpu),
               w = p.weight(WeightForm::PerRow).to(kGpu);
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState s1(params.bins()), s2(params.bins());
  for (int step = 0; step < 2; ++step) {
    const GhmcResult a = ghm_c_forward(x, t, w, params, s1, levels, ElementWeights::Keep);
    const GhmcResult b = ghm_c_forward(x, t, w, params, s2, levels, ElementWeights::Keep);
    CHECK(a.loss.item() == b.loss.item());
    CHECK(a.total == b.total);
    CHECK(host(a.grad) == host(b.grad));
    CHECK(host(a.element_weight) == host(b.element_weight));
    REQUIRE(a.calls.size() == b.calls.size());
    for (std::size_t c = 0; c < a.calls.size(); ++c) {
      CHECK(a.calls[c].num_in_bin == b.calls[c].num_in_bin);
      CHECK(a.calls[c].bin_weight == b.calls[c].bin_weight);
      CHECK(a.calls[c].acc_sum == b.calls[c].acc_sum);
      CHECK(a.calls[c].tot == b.calls[c].tot);
      CHECK(a.calls[c].loss == b.calls[c].loss);
    }
  }
  const RegProblem r = make_reg_problem(1801, 300001, true);
  const GhmSettings rparams = GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  GhmEmaState r1(rparams.bins()), r2(rparams.bins());
  const GhmrResult ra = ghm_r_forward(r.pred_t().to(kGpu), r.target_t().to(kGpu), r.weight_t().to(kGpu), rparams, r1);
  const GhmrResult rb = ghm_r_forward(r.pred_t().to(kGpu), r.target_t().to(kGpu), r.weight_t().to(kGpu), rparams, r2);
  CHECK(ra.loss.item() == rb.loss.item());
  CHECK(host(ra.grad) == host(rb.grad));
  CHECK(ra.calls[0].tot == rb.calls[0].tot);
}

TEST_CASE("cuda ghm: the EMA state moves between devices with the calls and checkpoints read it") {
  // CPU, CUDA, CUDA, CPU calls through one state equal four CPU calls.
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  GhmEmaState mixed(params.bins()), cpu_only(params.bins());
  for (int step = 0; step < 4; ++step) {
    CAPTURE(step);
    const ClsProblem p = make_cls_problem(1900 + static_cast<std::uint64_t>(step), 301, 7);
    const bool on_gpu = step == 1 || step == 2;
    const GhmcResult want =
        ghm_c_forward(p.pred(), p.target(TargetForm::OneHot), p.weight(WeightForm::PerElement), params, cpu_only);
    const GhmcResult got =
        on_gpu ? ghm_c_forward(p.pred().to(kGpu), p.target(TargetForm::OneHot).to(kGpu),
                               p.weight(WeightForm::PerElement).to(kGpu), params, mixed)
               : ghm_c_forward(p.pred(), p.target(TargetForm::OneHot), p.weight(WeightForm::PerElement), params, mixed);
    CHECK(mixed.on_device == on_gpu);
    const std::vector<float> s = mixed.values();  // what a checkpoint saves
    for (std::size_t i = 0; i < s.size(); ++i) CHECK(rel(s[i], cpu_only.acc_sum[i]) <= kWeightRtol);
    CHECK(rel(got.total, want.total) <= kLossRtol);
  }
  // A state assigned on the host (a resumed checkpoint) is what the next CUDA call starts from.
  mixed.sync_to_host();
  GhmEmaState fresh(params.bins());
  fresh.acc_sum = mixed.acc_sum;
  const ClsProblem p = make_cls_problem(1950, 97, 7);
  const GhmcResult a = ghm_c_forward(p.pred().to(kGpu), p.target(TargetForm::OneHot).to(kGpu),
                                     p.weight(WeightForm::PerElement).to(kGpu), params, fresh);
  const GhmcResult b = ghm_c_forward(p.pred(), p.target(TargetForm::OneHot), p.weight(WeightForm::PerElement), params,
                                     mixed);
  CHECK(rel(a.total, b.total) <= kLossRtol);
}

TEST_CASE("cuda ghm: bad arguments are errors naming them") {
  const Tensor x = Tensor::zeros(Shape{3, 2}, DType::F32, kGpu), w = Tensor::ones(Shape{3, 2}, DType::F32, kGpu);
  GhmEmaState state(10);
  CHECK(error_message([&] { ghm_c_forward(x, x, w, GhmSettings::classification(0, 0.0, 1.0f), state); }).find("bins") !=
        std::string::npos);
  CHECK(error_message([&] { ghm_c_forward(x, x, w, GhmSettings::classification(10, 1.0, 1.0f), state); }).find("momentum") !=
        std::string::npos);
  GhmEmaState small(10);
  CHECK(error_message([&] { ghm_c_forward(x, x, w, GhmSettings::classification(30, 0.75, 1.0f), small); }).find("state") !=
        std::string::npos);
  CHECK(error_message([&] { ghm_c_forward(x, x.to(Device::cpu()), w, GhmSettings::classification(), state); }).find("one device") !=
        std::string::npos);
  std::vector<std::int64_t> many(70);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = std::min<std::int64_t>(static_cast<std::int64_t>(i), 3);
  CHECK(error_message([&] { ghm_c_forward(x, x, w, GhmSettings::classification(), state, many); }).find("at most") != std::string::npos);
  CHECK(error_message([&] { ghm_c_exact_forward(x, x, w, GhmcExactParams{}); }).find("CPU only") != std::string::npos);
}

// ---- a data-parallel job's summed counts (GhmEmaState::across) --------------------------------

TEST_CASE("cuda ghm_c and ghm_r: counts summed across processes give the CPU's results") {
  // The other process's values: a share of the same problem, recorded by a CPU run. Both backends
  // then add them through the same hook (the CPU per call, CUDA all calls at once, in call order).
  const ClsProblem p = make_cls_problem(1802, 6001, 20);
  const std::vector<std::int64_t> levels{0, 4000, 5500, 6001};
  const Tensor x = p.pred(), t = p.target(TargetForm::LabelsI64), w = p.weight(WeightForm::PerRow);
  const GhmSettings params = GhmSettings::classification(30, 0.75, 1.0f);
  std::vector<double> other;
  GhmEmaState probe(params.bins());
  probe.across = {[&](std::span<double> v) { other.insert(other.end(), v.begin(), v.end()); }, 2};
  ghm_c_forward(p.pred(), t, w, params, probe, levels);
  for (double& v : other) v = std::floor(v * 0.7);  // a different share: other counts
  const auto adder = [&] {
    return GhmCountSum{[&, at = std::size_t{0}](std::span<double> v) mutable {
                         for (double& value : v) value += other.at(at++);
                       },
                       2};
  };
  GhmEmaState cpu_state(params.bins()), gpu_state(params.bins());
  cpu_state.across = adder();
  gpu_state.across = adder();
  const GhmcResult c = ghm_c_forward(x, t, w, params, cpu_state, levels);
  const GhmcResult g = ghm_c_forward(x.to(kGpu), t.to(kGpu), w.to(kGpu), params, gpu_state, levels);
  REQUIRE(g.calls.size() == c.calls.size());
  for (std::size_t k = 0; k < c.calls.size(); ++k) {
    CHECK(g.calls[k].num_in_bin == c.calls[k].num_in_bin);
    CHECK(g.calls[k].tot == c.calls[k].tot);
    CHECK(g.calls[k].nonempty_bins == c.calls[k].nonempty_bins);
  }
  const std::vector<float> gs = gpu_state.values(), cs = cpu_state.values();
  for (std::size_t i = 0; i < cs.size(); ++i) CHECK(rel(gs[i], cs[i]) <= kWeightRtol);
  CHECK(rel(g.total, c.total) <= kLossRtol);
  CHECK(normalised(host(g.grad), c.grad.to_vector<float>()) <= kGradTol);
}
