// Backend consistency for the losses: GHM-C, GHM-R and the baselines on CUDA against their CPU
// twins on the same random inputs (every target and weight form, sizes that are not multiples of
// the block or the tile, a single element, empty inputs, per-level sequences through one EMA state
// over several steps, both scopes), edge cases (all ignored, g exactly on an edge), run-to-run
// determinism, the no-sync loss path through autograd, and the state moving between devices.
// Run only where a GPU is present.
//
// Bin counts are compared exactly, call by call. The two backends compute g with different
// sigmoids (the CPU's vectorised exp, the device's expf), a few ulps apart; both bin a g that lies
// within their near-edge window (losses/ghm_math.h, wider than either error) from the same
// double-precision g, so the bins are equal. The elements within rounding of an edge are still
// counted with the float64 reference (tests/losses/reference_losses.h: |g - e| <= 8 * 2^-24) and
// reported, and one binned differently is reported with the count of such elements before the
// check fails; the values are then not compared. Where counts agree:
//   tot:          exact for GHM-C (an integer count); rtol 1e-12 for GHM-R (a double sum of the
//                 weights in another order)
//   bin weights,  the same formula (losses/ghm_math.h) on the same R_i and tot: equal, up to
//   EMA state     kWeightRtol 1e-6 in case a division rounds differently
//   loss          kLossRtol 2e-6: per-element BCE from the CPU's exp/log1p and the device's
//                 expf/log1pf, each within ~2 ulps (~2.4e-7 relative), summed in double
//   gradient      kGradTol 2e-6, normalised (max |cuda - cpu| / max |cpu|): p - y from the two
//                 sigmoids differs by a few ulps of p (~3e-7 of the largest |p - y| ~ 1)
//   element w     the same table values: kWeightRtol
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "core/tensor.h"
#include "losses/baselines.h"
#include "losses/ghm_c.h"
#include "losses/ghm_c_exact.h"
#include "losses/ghm_r.h"
#include "losses/ghm_state.h"
#include "losses/reference_losses.h"
#include "losses/edge_probes.h"

using namespace ghm;
using namespace ghm::losses;
namespace ref = ghm::testing::reference;

namespace {

const Device kGpu = Device::cuda(0);

constexpr double kLossRtol = 2e-6;
constexpr double kGradTol = 2e-6;
constexpr double kWeightRtol = 1e-6;
constexpr double kWeightSumRtol = 1e-12;

double rel(double got, double want) { return want != 0 ? std::abs(got - want) / std::abs(want) : std::abs(got); }

std::vector<float> host(const Tensor& t) { return t.detach().to(Device::cpu()).to_vector<float>(); }

// max |got - want| / max |want| (or max |got| when want is all zero).
double normalised(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return scale > 0 ? err / scale : err;
}

// ---- inputs -----------------------------------------------------------------------------------

enum class TargetForm { OneHot, LabelsI64, LabelsI32 };
enum class WeightForm { PerElement, PerRow };

float random_logit(Generator& gen) {
  const float u = gen.uniform();
  if (u < 0.7f) return gen.uniform(-6.0f, 6.0f);
  if (u < 0.9f) return -4.595f + gen.normal();
  return (gen.uniform() < 0.5f ? -1.0f : 1.0f) * gen.uniform(8.0f, 30.0f);
}

struct ClsProblem {
  std::int64_t n = 0, k = 0;
  std::vector<float> logits;         // [N, K]
  std::vector<std::int64_t> labels;  // [N]: -1, K (background) or a class
  std::vector<float> weight_elem;    // [N, K], with zeros
  std::vector<float> weight_row;     // [N], with zeros

  Tensor pred() const { return Tensor::from_vector(logits, Shape{n, k}); }
  Tensor target(TargetForm f) const {
    switch (f) {
      case TargetForm::OneHot: return Tensor::from_vector(ref::expand_labels(labels, k), Shape{n, k});
      case TargetForm::LabelsI64: return Tensor::from_vector(labels, Shape{n});
      case TargetForm::LabelsI32:
        return Tensor::from_vector(std::vector<std::int32_t>(labels.begin(), labels.end()), Shape{n});
    }
    return {};
  }
  Tensor weight(WeightForm f) const {
    return f == WeightForm::PerElement ? Tensor::from_vector(weight_elem, Shape{n, k})
                                       : Tensor::from_vector(weight_row, Shape{n});
  }
  std::vector<float> ref_weight(WeightForm f) const {
    return f == WeightForm::PerElement ? weight_elem : ref::expand_row_weights(weight_row, k);
  }
};

ClsProblem make_cls_problem(std::uint64_t seed, std::int64_t n, std::int64_t k) {
  Generator gen(seed);
  ClsProblem p;
  p.n = n;
  p.k = k;
  for (std::int64_t i = 0; i < n * k; ++i) p.logits.push_back(random_logit(gen));
  auto weight = [&](float zero_fraction) {
    const float u = gen.uniform();
    return u < zero_fraction ? 0.0f : (u < 0.8f ? 1.0f : gen.uniform(0.25f, 3.0f));
  };
  for (std::int64_t r = 0; r < n; ++r) {
    const float u = gen.uniform();
    const auto some_class = static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(k));
    p.labels.push_back(u < 0.1f ? -1 : (u < 0.55f ? k : some_class));
    p.weight_row.push_back(weight(0.15f));
  }
  for (std::int64_t i = 0; i < n * k; ++i) p.weight_elem.push_back(weight(0.2f));
  return p;
}

struct RegProblem {
  std::int64_t n = 0, d = 4;
  std::vector<float> pred, target, weight;  // [N, D]

  Tensor pred_t() const { return Tensor::from_vector(pred, Shape{n, d}); }
  Tensor target_t() const { return Tensor::from_vector(target, Shape{n, d}); }
  Tensor weight_t() const { return Tensor::from_vector(weight, Shape{n, d}); }
};

// Deltas spread over every GHM-R bin; weights as bbox_weights, or mixed {0, 0.5, 1, 2}.
RegProblem make_reg_problem(std::uint64_t seed, std::int64_t n, bool mixed) {
  Generator gen(seed);
  RegProblem p;
  p.n = n;
  for (std::int64_t r = 0; r < n; ++r) {
    const bool positive = gen.uniform() < 0.4f;
    for (std::int64_t c = 0; c < p.d; ++c) {
      const float t = gen.uniform(-1.5f, 1.5f), u = gen.uniform(), sign = gen.uniform() < 0.5f ? -1.0f : 1.0f;
      const float delta = u < 0.75f ? sign * std::exp(gen.uniform(std::log(0.002f), std::log(0.5f)))
                                    : (u < 0.85f ? sign * gen.uniform(0.0f, 1e-4f) : sign * gen.uniform(1.0f, 40.0f));
      p.target.push_back(t);
      p.pred.push_back(t + delta);
      const float values[] = {0.0f, 0.5f, 1.0f, 2.0f};
      p.weight.push_back(mixed ? values[gen.next_u64() % 4] : (positive ? 1.0f : 0.0f));
    }
  }
  return p;
}

// ---- comparison -------------------------------------------------------------------------------

enum class Tot { Count, WeightSum };

struct Report {
  std::int64_t near = 0;   // valid elements within rounding of an edge (reference flags)
  std::int64_t moved = 0;  // elements in another bin on CUDA than on the CPU
  double loss = 0, grad = 0, weight = 0, state = 0;

  void merge(const Report& o) {
    near += o.near;
    moved += o.moved;
    loss = std::max(loss, o.loss);
    grad = std::max(grad, o.grad);
    weight = std::max(weight, o.weight);
    state = std::max(state, o.state);
  }
  std::string summary() const {
    return str_cat("near-edge elements ", near, ", moved ", moved, "; max errors: loss rel ", loss,
                   ", grad normalised ", grad, ", weights rel ", weight, ", state rel ", state);
  }
};

// A CUDA forward against the CPU forward on the same inputs. `near` is the reference run of the
// same calls, whose flags count the elements within rounding of an edge.
Report compare_runs(const GhmResult& gpu, const GhmResult& cpu, const ref::Result& near, Tot tot_rule) {
  Report rep;
  REQUIRE(gpu.calls.size() == cpu.calls.size());
  REQUIRE(near.calls.size() == cpu.calls.size());
  CHECK(gpu.loss.device() == kGpu);
  CHECK(gpu.grad.device() == kGpu);
  bool counts_equal = true;
  for (std::size_t c = 0; c < cpu.calls.size(); ++c) {
    CAPTURE(c);
    const GhmCallStats& g = gpu.calls[c];
    const GhmCallStats& w = cpu.calls[c];
    REQUIRE(g.num_in_bin.size() == w.num_in_bin.size());
    REQUIRE(g.bin_weight.size() == w.bin_weight.size());
    REQUIRE(g.acc_sum.size() == w.acc_sum.size());
    rep.near += near.calls[c].near_total;
    std::int64_t abs_diff = 0;
    for (std::size_t i = 0; i < w.num_in_bin.size(); ++i) abs_diff += std::abs(g.num_in_bin[i] - w.num_in_bin[i]);
    if (abs_diff != 0) {
      counts_equal = false;
      rep.moved += abs_diff / 2;
      MESSAGE("call ", c, ": ", abs_diff / 2, " element(s) in another bin on CUDA (", near.calls[c].near_total,
              " valid elements within rounding of an edge); values not compared");
    }
    CHECK(g.num_in_bin == w.num_in_bin);
    if (abs_diff != 0) continue;
    if (tot_rule == Tot::Count) CHECK(g.tot == w.tot);
    else CHECK(rel(g.tot, w.tot) <= kWeightSumRtol);
    CHECK(g.nonempty_bins == w.nonempty_bins);
    for (std::size_t i = 0; i < w.bin_weight.size(); ++i)
      rep.weight = std::max(rep.weight, rel(g.bin_weight[i], w.bin_weight[i]));
    for (std::size_t i = 0; i < w.acc_sum.size(); ++i) rep.state = std::max(rep.state, rel(g.acc_sum[i], w.acc_sum[i]));
    rep.loss = std::max(rep.loss, rel(g.loss, w.loss));
  }
  if (counts_equal) {
    rep.loss = std::max({rep.loss, rel(gpu.total, cpu.total), rel(gpu.loss.item(), cpu.loss.item())});
    rep.grad = normalised(host(gpu.grad), cpu.grad.to_vector<float>());
    if (cpu.element_weight.defined()) {
      REQUIRE(gpu.element_weight.defined());
      rep.weight = std::max(rep.weight, normalised(host(gpu.element_weight), cpu.element_weight.to_vector<float>()));
    }
  }
  CHECK(rep.loss <= kLossRtol);
  CHECK(rep.grad <= kGradTol);
  CHECK(rep.weight <= kWeightRtol);
  CHECK(rep.state <= kWeightRtol);
  return rep;
}

// The reference run of a GHM-C problem (for its near-edge flags).
ref::Result ref_ghm_c(const ClsProblem& p, WeightForm wf, const GhmcParams& params,
                      const std::vector<std::int64_t>& levels = {}) {
  ref::State state(params.bins);
  return ref::ghm_c(p.logits, ref::expand_labels(p.labels, p.k), p.ref_weight(wf), p.k,
                    {params.bins, params.momentum, params.loss_weight}, state, levels);
}

ref::Result ref_ghm_r(const RegProblem& p, const GhmrParams& params, const std::vector<std::int64_t>& levels = {}) {
  ref::State state(params.bins);
  return ref::ghm_r(p.pred, p.target, p.weight, p.d, params.mu, {params.bins, params.momentum, params.loss_weight},
                    state, levels);
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected a ghm::Error");
  return {};
}

}  // namespace

// ---- GHM-C ------------------------------------------------------------------------------------

TEST_CASE("cuda ghm_c: random inputs in every target and weight form equal the CPU, bins exactly") {
  struct Size {
    std::int64_t n, k;
  };
  Report all;
  std::uint64_t seed = 1100;
  // One element; K = 1; several tiles; K above the block size (the row walk); 4099 x 80: 81 tiles.
  for (const Size size : {Size{1, 1}, Size{37, 1}, Size{53, 7}, Size{1001, 7}, Size{3, 300}, Size{257, 256},
                          Size{4099, 80}}) {
    const ClsProblem p = make_cls_problem(seed++, size.n, size.k);
    for (TargetForm tf : {TargetForm::OneHot, TargetForm::LabelsI64, TargetForm::LabelsI32})
      for (WeightForm wf : {WeightForm::PerElement, WeightForm::PerRow})
        for (double momentum : {0.0, 0.75}) {
          CAPTURE(size.n);
          CAPTURE(size.k);
          CAPTURE(static_cast<int>(tf));
          CAPTURE(static_cast<int>(wf));
          CAPTURE(momentum);
          const GhmcParams params{30, momentum, 1.0f};
          GhmEmaState cpu_state(params.bins), gpu_state(params.bins);
          const GhmcResult cpu =
              ghm_c_forward(p.pred(), p.target(tf), p.weight(wf), params, cpu_state, {}, ElementWeights::Keep);
          const GhmcResult gpu = ghm_c_forward(p.pred().to(kGpu), p.target(tf).to(kGpu), p.weight(wf).to(kGpu), params,
                                               gpu_state, {}, ElementWeights::Keep);
          all.merge(compare_runs(gpu, cpu, ref_ghm_c(p, wf, params), Tot::Count));
          CHECK(gpu_state.on_device == (momentum > 0));
          const std::vector<float> s = gpu_state.values();
          for (std::size_t i = 0; i < s.size(); ++i) CHECK(rel(s[i], cpu_state.acc_sum[i]) <= kWeightRtol);
        }
  }
  MESSAGE("cuda ghm_c random: ", all.summary());
}

TEST_CASE("cuda ghm_c: per-level calls through one EMA state over several steps, and the batch scope") {
  // Five levels (the last two small, so bins go empty and must keep S), 80 classes, several tiles
  // per level; four iterations carry the state on.
  const std::vector<std::int64_t> levels{0, 2000, 2500, 2625, 2660, 2669};
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState cpu_state(params.bins), gpu_state(params.bins);
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
  GhmEmaState cb(params.bins), gb(params.bins);
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
  const GhmcParams params{30, 0.75, 1.0f};
  const ClsProblem p = make_cls_problem(1300, levels.back(), 80);
  GhmEmaState cpu_state(params.bins), gpu_state(params.bins);
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

TEST_CASE("cuda ghm_c and ghm_r: every element ignored gives loss 0, gradient 0, tot 1, n 0, the state untouched") {
  const ClsProblem p = make_cls_problem(1400, 1111, 7);
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState state(params.bins);
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
  const RegProblem q = make_reg_problem(1401, 333, false);
  const GhmrParams rparams{0.02f, 10, 0.7, 10.0f};
  GhmEmaState rstate(rparams.bins);
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
  const GhmcParams params{30, 0.75, 1.0f};
  for (const Shape& s : {Shape{0, 5}, Shape{4, 0}}) {
    CAPTURE(s);
    GhmEmaState state(params.bins);
    const GhmcResult r = ghm_c_forward(Tensor::zeros(s, DType::F32, kGpu), Tensor::zeros(s, DType::F32, kGpu),
                                       Tensor::zeros(s, DType::F32, kGpu), params, state);
    CHECK(r.total == 0.0);
    CHECK(r.loss.item() == 0.0f);
    CHECK(r.grad.shape() == s);
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].tot == 1.0);
    for (float v : state.values()) CHECK(v == 0.0f);
  }
  const GhmrParams rparams{0.02f, 10, 0.7, 10.0f};
  GhmEmaState rstate(rparams.bins);
  const Tensor z = Tensor::zeros(Shape{0, 4}, DType::F32, kGpu);
  const GhmrResult rempty = ghm_r_forward(z, z, z, rparams, rstate);
  CHECK(rempty.total == 0.0);
  CHECK(rempty.loss.item() == 0.0f);

  // An empty level in the middle of a sequence: tot 1, n 0, loss 0, the state the same bits.
  const ClsProblem p = make_cls_problem(1500, 20, 3);
  const std::vector<std::int64_t> levels{0, 12, 12, 20};
  GhmEmaState cs(params.bins), gs(params.bins);
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
    GhmEmaState a, b;
    const GhmcParams one{10, 0.0, 1.0f};
    const Tensor x = Tensor::from_vector<float>({0.7f}, Shape{1, 1}), t = Tensor::from_vector<float>({y}, Shape{1, 1});
    const GhmcResult c = ghm_c_forward(x, t, Tensor::ones(Shape{1, 1}), one, a);
    const GhmcResult g = ghm_c_forward(x.to(kGpu), t.to(kGpu), Tensor::ones(Shape{1, 1}, DType::F32, kGpu), one, b);
    CHECK(g.calls[0].num_in_bin == c.calls[0].num_in_bin);
    CHECK(rel(g.total, c.total) <= kLossRtol);
    CHECK(normalised(host(g.grad), c.grad.to_vector<float>()) <= kGradTol);
  }
}

TEST_CASE("cuda ghm_c and ghm_r: g exactly on an edge, 0 and 1 land in the CPU's bins") {
  // x = 0: p = 0.5 exactly on both, g = 0.5 = edge 15/30; |x| = 30 or more: g = 1 (last bin) or 0.
  const GhmcParams params{30, 0.0, 1.0f};
  const std::vector<float> x{0.0f, 0.0f, -30.0f, 30.0f, 30.0f, -200.0f, 1.3f, -2.2f, 0.4f};
  const std::vector<float> y{0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f};
  const auto n = static_cast<std::int64_t>(x.size());
  GhmEmaState a, b;
  const Tensor xt = Tensor::from_vector(x, Shape{n, 1}), yt = Tensor::from_vector(y, Shape{n, 1});
  const GhmcResult cpu = ghm_c_forward(xt, yt, Tensor::ones(Shape{n, 1}), params, a);
  const GhmcResult gpu =
      ghm_c_forward(xt.to(kGpu), yt.to(kGpu), Tensor::ones(Shape{n, 1}, DType::F32, kGpu), params, b);
  CHECK(gpu.calls[0].num_in_bin == cpu.calls[0].num_in_bin);
  CHECK(gpu.calls[0].num_in_bin[15] == 2);
  CHECK(gpu.calls[0].num_in_bin[29] == 2);
  CHECK(gpu.calls[0].num_in_bin[0] == 2);
  CHECK(rel(gpu.total, cpu.total) <= kLossRtol);

  // GHM-R with mu = 0.75: d = 1 gives s = 1.25 and g = 0.8 = edge 8/10, d = 0.5625 gives s = 0.9375
  // and g = 0.6 = edge 6/10, all exact in float32 (3-4-5 triangles); d = 0 is g = 0.
  const GhmrParams rparams{0.75f, 10, 0.0, 1.0f};
  const std::vector<float> pred{1.0f, -1.0f, 0.5625f, -0.5625f, 0.0f, 0.2f, -3.0f, 40.0f};
  const std::vector<float> target(pred.size(), 0.0f), w(pred.size(), 1.0f);
  const Tensor pt = Tensor::from_vector(pred, Shape{2, 4}), tt = Tensor::from_vector(target, Shape{2, 4}),
               wt = Tensor::from_vector(w, Shape{2, 4});
  GhmEmaState c, d;
  const GhmrResult rcpu = ghm_r_forward(pt, tt, wt, rparams, c);
  const GhmrResult rgpu = ghm_r_forward(pt.to(kGpu), tt.to(kGpu), wt.to(kGpu), rparams, d);
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
  const GhmcParams params{30, 0.0, 1.0f};
  const testing::EdgeProbes probes = testing::ghmc_edge_probes(params.bins);
  const std::vector<float>&x = probes.logits, &y = probes.labels;
  const auto n = static_cast<std::int64_t>(x.size());
  const std::vector<float> w(x.size(), 1.0f);
  const Tensor xt = Tensor::from_vector(x, Shape{n, 1}), yt = Tensor::from_vector(y, Shape{n, 1}),
               wt = Tensor::from_vector(w, Shape{n, 1});
  GhmEmaState a, b;
  const GhmcResult cpu = ghm_c_forward(xt, yt, wt, params, a, {}, ElementWeights::Keep);
  const GhmcResult gpu = ghm_c_forward(xt.to(kGpu), yt.to(kGpu), wt.to(kGpu), params, b, {}, ElementWeights::Keep);
  ref::State rs;
  const ref::Result near = ref::ghm_c(x, y, w, 1, {params.bins, params.momentum, params.loss_weight}, rs);
  CHECK(near.calls[0].near_total == n);
  MESSAGE("cuda ghm_c at the edges: ", compare_runs(gpu, cpu, near, Tot::Count).summary());

  const GhmrParams rparams{0.02f, 10, 0.0, 1.0f};
  std::vector<float> pred, target;
  for (int j = 1; j < rparams.bins; ++j) {
    const double e = static_cast<double>(static_cast<float>(j) / static_cast<float>(rparams.bins));
    for (float sign : {-1.0f, 1.0f}) {
      float d = sign * static_cast<float>(static_cast<double>(rparams.mu) * e / std::sqrt(1.0 - e * e));
      for (int step = 0; step < 4; ++step) d = std::nextafter(d, -100.0f);
      for (int step = 0; step < 8; ++step, d = std::nextafter(d, 100.0f)) {
        pred.push_back(d);
        target.push_back(0.0f);
      }
    }
  }
  const auto rn = static_cast<std::int64_t>(pred.size()) / 4;
  const std::vector<float> rw(pred.size(), 1.0f);
  const Tensor pt = Tensor::from_vector(pred, Shape{rn, 4}), tt = Tensor::from_vector(target, Shape{rn, 4}),
               rwt = Tensor::from_vector(rw, Shape{rn, 4});
  GhmEmaState c, d;
  const GhmrResult rcpu = ghm_r_forward(pt, tt, rwt, rparams, c, {}, ElementWeights::Keep);
  const GhmrResult rgpu = ghm_r_forward(pt.to(kGpu), tt.to(kGpu), rwt.to(kGpu), rparams, d, {}, ElementWeights::Keep);
  ref::State rrs;
  const ref::Result rnear = ref::ghm_r(pred, target, rw, 4, rparams.mu, {rparams.bins, 0.0, 1.0}, rrs);
  MESSAGE("cuda ghm_r at the edges: ", compare_runs(rgpu, rcpu, rnear, Tot::WeightSum).summary());
}

// ---- GHM-R ------------------------------------------------------------------------------------

TEST_CASE("cuda ghm_r: random inputs (bbox and mixed weights) equal the CPU, bins exactly") {
  Report all;
  std::uint64_t seed = 1600;
  for (std::int64_t n : {1, 29, 301, 2003, 70001})
    for (bool mixed : {false, true})
      for (double momentum : {0.0, 0.7}) {
        CAPTURE(n);
        CAPTURE(mixed);
        CAPTURE(momentum);
        const RegProblem p = make_reg_problem(seed++, n, mixed);
        const GhmrParams params{0.02f, 10, momentum, 10.0f};
        GhmEmaState cs(params.bins), gs(params.bins);
        const GhmrResult cpu =
            ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, cs, {}, ElementWeights::Keep);
        const GhmrResult gpu = ghm_r_forward(p.pred_t().to(kGpu), p.target_t().to(kGpu), p.weight_t().to(kGpu), params,
                                             gs, {}, ElementWeights::Keep);
        all.merge(compare_runs(gpu, cpu, ref_ghm_r(p, params), Tot::WeightSum));
      }
  MESSAGE("cuda ghm_r random: ", all.summary());
}

TEST_CASE("cuda ghm_r: per-level calls over several steps through one state, via autograd") {
  const std::vector<std::int64_t> levels{0, 6100, 8300, 9500, 9800, 9900};
  const GhmrParams params{0.02f, 10, 0.7, 10.0f};
  GhmEmaState cs(params.bins), gs(params.bins);
  Report all;
  for (int step = 0; step < 4; ++step) {
    CAPTURE(step);
    const RegProblem p = make_reg_problem(1700 + static_cast<std::uint64_t>(step), levels.back(), false);
    const GhmrResult cpu = ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, cs, levels);
    const GhmrResult gpu =
        ghm_r_forward(p.pred_t().to(kGpu), p.target_t().to(kGpu), p.weight_t().to(kGpu), params, gs, levels);
    all.merge(compare_runs(gpu, cpu, ref_ghm_r(p, params, levels), Tot::WeightSum));
  }
  MESSAGE("cuda ghm_r per level, 4 steps: ", all.summary());

  // The loss op: value and gradient through autograd, the state carried on from above.
  const RegProblem p = make_reg_problem(1710, levels.back(), true);
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

// ---- determinism and the state ------------------------------------------------------------------

TEST_CASE("cuda ghm_c and ghm_r: two runs give the same bits") {
  const ClsProblem p = make_cls_problem(1800, 25001, 80);  // 2M elements, 489 tiles
  const std::vector<std::int64_t> levels{0, 18000, 22500, 24000, 24800, 25001};
  const Tensor x = p.pred().to(kGpu), t = p.target(TargetForm::LabelsI64).to(kGpu),
               w = p.weight(WeightForm::PerRow).to(kGpu);
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState s1(params.bins), s2(params.bins);
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
  const GhmrParams rparams{0.02f, 10, 0.7, 10.0f};
  GhmEmaState r1(rparams.bins), r2(rparams.bins);
  const GhmrResult ra = ghm_r_forward(r.pred_t().to(kGpu), r.target_t().to(kGpu), r.weight_t().to(kGpu), rparams, r1);
  const GhmrResult rb = ghm_r_forward(r.pred_t().to(kGpu), r.target_t().to(kGpu), r.weight_t().to(kGpu), rparams, r2);
  CHECK(ra.loss.item() == rb.loss.item());
  CHECK(host(ra.grad) == host(rb.grad));
  CHECK(ra.calls[0].tot == rb.calls[0].tot);
}

TEST_CASE("cuda ghm: the EMA state moves between devices with the calls and checkpoints read it") {
  // CPU, CUDA, CUDA, CPU calls through one state equal four CPU calls.
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState mixed(params.bins), cpu_only(params.bins);
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
  GhmEmaState fresh(params.bins);
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
  CHECK(error_message([&] { ghm_c_forward(x, x, w, GhmcParams{0, 0.0, 1.0f}, state); }).find("bins") !=
        std::string::npos);
  CHECK(error_message([&] { ghm_c_forward(x, x, w, GhmcParams{10, 1.0, 1.0f}, state); }).find("momentum") !=
        std::string::npos);
  GhmEmaState small(10);
  CHECK(error_message([&] { ghm_c_forward(x, x, w, GhmcParams{30, 0.75, 1.0f}, small); }).find("state") !=
        std::string::npos);
  CHECK(error_message([&] { ghm_c_forward(x, x.to(Device::cpu()), w, GhmcParams{}, state); }).find("one device") !=
        std::string::npos);
  std::vector<std::int64_t> many(70);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = std::min<std::int64_t>(static_cast<std::int64_t>(i), 3);
  CHECK(error_message([&] { ghm_c_forward(x, x, w, GhmcParams{}, state, many); }).find("at most") != std::string::npos);
  CHECK(error_message([&] { ghm_c_exact_forward(x, x, w, GhmcExactParams{}); }).find("CPU only") != std::string::npos);
}

// ---- baselines ----------------------------------------------------------------------------------

namespace {

// Loss and gradient (upstream 1, then 2.5) of one loss on both backends.
void check_fused(const char* name, const std::function<Tensor(const Tensor&, Device)>& loss_of, const Tensor& pred) {
  CAPTURE(name);
  for (float upstream : {1.0f, 2.5f}) {
    Tensor xc = pred.clone(), xg = pred.to(kGpu);
    xc.set_requires_grad(true);
    xg.set_requires_grad(true);
    const Tensor lc = loss_of(xc, Device::cpu()), lg = loss_of(xg, kGpu);
    CHECK(lg.device() == kGpu);
    lc.backward(Tensor::full(Shape{}, upstream));
    lg.backward(Tensor::full(Shape{}, upstream, DType::F32, kGpu));
    CHECK(rel(lg.item(), lc.item()) <= kLossRtol);
    if (pred.numel() > 0) CHECK(normalised(host(xg.grad()), xc.grad().to_vector<float>()) <= kGradTol);
  }
}

}  // namespace

TEST_CASE("cuda baselines: bce and focal (gamma 2 and 1.5) in every form equal the CPU") {
  struct Size {
    std::int64_t n, k;
  };
  std::uint64_t seed = 2000;
  for (const Size size : {Size{1, 1}, Size{0, 5}, Size{53, 7}, Size{3, 300}, Size{4099, 80}}) {
    const ClsProblem p = make_cls_problem(seed++, size.n, size.k);
    CAPTURE(size.n);
    CAPTURE(size.k);
    for (TargetForm tf : {TargetForm::OneHot, TargetForm::LabelsI64, TargetForm::LabelsI32})
      for (WeightForm wf : {WeightForm::PerElement, WeightForm::PerRow}) {
        CAPTURE(static_cast<int>(tf));
        CAPTURE(static_cast<int>(wf));
        const Tensor t = p.target(tf), w = p.weight(wf);
        check_fused("bce", [&](const Tensor& x, Device d) {
          return bce_with_logits_loss(x, t.to(d), w.to(d), 37.0, 1.5f);
        }, p.pred());
        check_fused("focal gamma 2", [&](const Tensor& x, Device d) {
          return sigmoid_focal_loss(x, t.to(d), w.to(d), 11.0, 0.25f, 2.0f, 1.0f);
        }, p.pred());
        check_fused("focal gamma 1.5", [&](const Tensor& x, Device d) {
          return sigmoid_focal_loss(x, t.to(d), w.to(d), 11.0, 0.4f, 1.5f, 2.0f);
        }, p.pred());
      }
  }
}

TEST_CASE("cuda baselines: smooth L1 and ASL1 equal the CPU") {
  std::uint64_t seed = 2100;
  for (std::int64_t n : {0, 1, 29, 2003, 70001}) {
    CAPTURE(n);
    const RegProblem p = make_reg_problem(seed++, n, true);
    const Tensor t = p.target_t(), w = p.weight_t();
    check_fused("smooth_l1", [&](const Tensor& x, Device d) {
      return smooth_l1_loss(x, t.to(d), w.to(d), 13.0, 1.0f / 9.0f, 1.0f);
    }, p.pred_t());
    check_fused("asl1", [&](const Tensor& x, Device d) { return asl1_loss(x, t.to(d), w.to(d), 13.0, 0.02f, 10.0f); },
                p.pred_t());
  }
}

TEST_CASE("cuda baselines: the same bits on every run") {
  const ClsProblem p = make_cls_problem(2200, 25001, 80);
  const Tensor x = p.pred().to(kGpu), t = p.target(TargetForm::LabelsI64).to(kGpu),
               w = p.weight(WeightForm::PerRow).to(kGpu);
  const float first = sigmoid_focal_loss(x, t, w, 100.0).item();
  for (int i = 0; i < 3; ++i) CHECK(sigmoid_focal_loss(x, t, w, 100.0).item() == first);
}
