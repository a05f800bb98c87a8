// GHM-C and GHM-R against the brute-force float64 reference (reference_losses.h), written from
// the spec of the reference behaviour (GHM_SEMANTICS.md sections 1.1-1.4) independently of
// losses/: random inputs of odd sizes in every target / weight form, per-level EMA sequences,
// edge cases, finite-difference gradients with frozen weights, autograd and determinism.
//
// Tolerances (why):
//   kLossRtol 1e-5:   the fast code works in float32 (terms, weights, EMA state) while the
//                     reference is double; the spec (1.4) advises comparing the loss with rtol
//                     ~1e-5, ~100x the float32 rounding of sums of a few thousand terms.
//   kGradTol 1e-5:    normalised error max|ours - ref| / max|ref|; each gradient element is a
//                     product of a few float32 factors (w, p - y, 1/tot), a few ulps (~1e-7) off.
//   kWeightRtol 1e-5: w = tot / (S_i n) in float32 from a float32 S_i: a few ulps.
//   kStateRtol 2e-6:  the float32 EMA state rounds twice per update (~1.2e-7 each); the EMA
//                     contracts by m per call, so errors stay below 2 ulp / (1 - m) <= 8 ulp ~ 1e-6.
//   kTotRtol 1e-7:    tot is an exact count (GHM-C) or a sum of weights that are exact in float32.
//   Bin counts:       exact, except that an element whose double g lies within 8 float32 ulps
//                     (ref::kNearEdge) of an interior edge may move to the neighbouring bin; the
//                     reference flags and counts those, and a count may differ by at most the
//                     number of such elements at its two edges (spec 1.4: compare counts per bin).
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/ops/elementwise.h"
#include "core/random.h"
#include "core/tensor.h"
#include "losses/ghm_c.h"
#include "losses/ghm_r.h"
#include "losses/ghm_state.h"
#include "losses/reference_losses.h"
#include "losses/edge_probes.h"

using namespace ghm;
using namespace ghm::losses;
namespace ref = ghm::testing::reference;

namespace {

constexpr double kLossRtol = 1e-5;
constexpr double kGradTol = 1e-5;
constexpr double kWeightRtol = 1e-5;
constexpr double kStateRtol = 2e-6;
constexpr double kTotRtol = 1e-7;

// ---- inputs -----------------------------------------------------------------------------------

enum class TargetForm { OneHot, LabelsI64, LabelsI32 };
enum class WeightForm { PerElement, PerRow };

const char* name(TargetForm f) {
  switch (f) {
    case TargetForm::OneHot: return "one-hot f32 [N,K]";
    case TargetForm::LabelsI64: return "labels i64 [N]";
    case TargetForm::LabelsI32: return "labels i32 [N]";
  }
  return "?";
}
const char* name(WeightForm f) { return f == WeightForm::PerElement ? "weight [N,K]" : "weight [N]"; }

// A logit: mostly spread over [-6, 6] (every bin gets some), some near the 0.01 prior bias
// (-4.6), some saturated (|x| in [8, 30]).
float random_logit(Generator& gen) {
  const float u = gen.uniform();
  if (u < 0.7f) return gen.uniform(-6.0f, 6.0f);
  if (u < 0.9f) return -4.595f + gen.normal();
  return (gen.uniform() < 0.5f ? -1.0f : 1.0f) * gen.uniform(8.0f, 30.0f);
}

// A classification problem of N rows and K classes, in every form the losses accept.
struct ClsProblem {
  std::int64_t n = 0, k = 0;
  std::vector<float> logits;         // [N, K]
  std::vector<std::int64_t> labels;  // [N]: -1 (ignored label value), K (background) or a class
  std::vector<float> weight_elem;    // [N, K], with zeros
  std::vector<float> weight_row;     // [N], with zeros

  Tensor pred() const { return Tensor::from_vector(logits, Shape{n, k}); }
  Tensor target(TargetForm f) const {
    switch (f) {
      case TargetForm::OneHot: return Tensor::from_vector(ref::expand_labels(labels, k), Shape{n, k});
      case TargetForm::LabelsI64: return Tensor::from_vector(labels, Shape{n});
      case TargetForm::LabelsI32: {
        std::vector<std::int32_t> l32(labels.begin(), labels.end());
        return Tensor::from_vector(l32, Shape{n});
      }
    }
    return {};
  }
  Tensor weight(WeightForm f) const {
    return f == WeightForm::PerElement ? Tensor::from_vector(weight_elem, Shape{n, k})
                                       : Tensor::from_vector(weight_row, Shape{n});
  }
  // The reference's [N, K] views.
  std::vector<float> ref_target() const { return ref::expand_labels(labels, k); }
  std::vector<float> ref_weight(WeightForm f) const {
    return f == WeightForm::PerElement ? weight_elem : ref::expand_row_weights(weight_row, k);
  }
};

// Only the sign of a GHM-C label weight matters, so positive weights take several values.
float random_label_weight(Generator& gen, float zero_fraction) {
  const float u = gen.uniform();
  if (u < zero_fraction) return 0.0f;
  return u < 0.8f ? 1.0f : gen.uniform(0.25f, 3.0f);
}

ClsProblem make_cls_problem(std::uint64_t seed, std::int64_t n, std::int64_t k) {
  Generator gen(seed);
  ClsProblem p;
  p.n = n;
  p.k = k;
  for (std::int64_t i = 0; i < n * k; ++i) p.logits.push_back(random_logit(gen));
  for (std::int64_t r = 0; r < n; ++r) {
    const float u = gen.uniform();
    if (u < 0.1f)
      p.labels.push_back(-1);
    else if (u < 0.55f)
      p.labels.push_back(k);
    else
      p.labels.push_back(static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(k)));
    p.weight_row.push_back(random_label_weight(gen, 0.15f));
  }
  for (std::int64_t i = 0; i < n * k; ++i) p.weight_elem.push_back(random_label_weight(gen, 0.2f));
  return p;
}

// Box deltas: pred = target + d with |d| mostly around mu..0.2 (g spread over the bins), some
// tiny, some large (g rounds to 1 in float32).
struct RegProblem {
  std::int64_t n = 0, d = 4;
  std::vector<float> pred, target, weight;  // [N, D]

  Tensor pred_t() const { return Tensor::from_vector(pred, Shape{n, d}); }
  Tensor target_t() const { return Tensor::from_vector(target, Shape{n, d}); }
  Tensor weight_t() const { return Tensor::from_vector(weight, Shape{n, d}); }
};

float random_delta(Generator& gen) {
  const float u = gen.uniform();
  const float sign = gen.uniform() < 0.5f ? -1.0f : 1.0f;
  if (u < 0.75f) return sign * std::exp(gen.uniform(std::log(0.002f), std::log(0.5f)));
  if (u < 0.85f) return sign * gen.uniform(0.0f, 1e-4f);
  return sign * gen.uniform(1.0f, 40.0f);
}

// Weights as RetinaNet's bbox_weights (1 on the four coordinates of a positive row, else 0), or,
// with `mixed`, any of {0, 0.5, 1, 2} per element (tot is then their sum).
RegProblem make_reg_problem(std::uint64_t seed, std::int64_t n, bool mixed, float positive_fraction = 0.3f) {
  Generator gen(seed);
  RegProblem p;
  p.n = n;
  for (std::int64_t r = 0; r < n; ++r) {
    const bool positive = gen.uniform() < positive_fraction;
    for (std::int64_t c = 0; c < p.d; ++c) {
      const float t = gen.uniform(-1.5f, 1.5f);
      p.target.push_back(t);
      p.pred.push_back(t + random_delta(gen));
      if (mixed) {
        const float values[] = {0.0f, 0.5f, 1.0f, 2.0f};
        p.weight.push_back(values[gen.next_u64() % 4]);
      } else {
        p.weight.push_back(positive ? 1.0f : 0.0f);
      }
    }
  }
  return p;
}

// ---- comparison -------------------------------------------------------------------------------

// The largest errors seen, reported once per test case.
struct Errors {
  double loss = 0, grad = 0, bin_weight = 0, acc_sum = 0;
  std::int64_t near_edge = 0;  // elements the reference flags as near an edge
  std::int64_t moved = 0;      // elements whose bin differs between us and the reference
  bool counts_equal = true;

  void merge(const Errors& o) {
    loss = std::max(loss, o.loss);
    grad = std::max(grad, o.grad);
    bin_weight = std::max(bin_weight, o.bin_weight);
    acc_sum = std::max(acc_sum, o.acc_sum);
    near_edge += o.near_edge;
    moved += o.moved;
    counts_equal = counts_equal && o.counts_equal;
  }
  std::string summary() const {
    return str_cat("max errors: loss rel ", loss, ", grad normalised ", grad, ", bin weight rel ", bin_weight,
                   ", acc_sum rel ", acc_sum, "; near-edge elements ", near_edge, ", moved ", moved);
  }
};

// Compares one forward (all its calls) with the reference. Counts must agree up to the near-edge
// slack; the values are compared where the counts agree exactly (a moved element changes the
// weights of its two bins, so the values are then not comparable).
Errors compare(const GhmResult& ours, const ref::Result& want, bool momentum) {
  Errors err;
  REQUIRE(ours.calls.size() == want.calls.size());
  for (std::size_t c = 0; c < want.calls.size(); ++c) {
    CAPTURE(c);
    const GhmCallStats& oc = ours.calls[c];
    const ref::Call& wc = want.calls[c];
    const auto bins = static_cast<int>(wc.num_in_bin.size());
    REQUIRE(oc.num_in_bin.size() == wc.num_in_bin.size());
    REQUIRE(oc.bin_weight.size() == wc.bin_weight.size());
    CHECK(ref::relative_error(oc.tot, wc.tot) <= kTotRtol);
    err.near_edge += wc.near_total;
    std::int64_t abs_diff = 0;
    for (int i = 0; i < bins; ++i) {
      CAPTURE(i);
      const std::int64_t diff = oc.num_in_bin[static_cast<std::size_t>(i)] - wc.num_in_bin[static_cast<std::size_t>(i)];
      CHECK(std::abs(diff) <= wc.count_slack(i));
      abs_diff += std::abs(diff);
    }
    err.moved += abs_diff / 2;
    if (abs_diff != 0) {
      err.counts_equal = false;
      MESSAGE("call ", c, ": ", abs_diff / 2, " near-edge element(s) in a neighbouring bin (", wc.near_total,
              " flagged); values not compared");
      continue;
    }
    CHECK(oc.nonempty_bins == wc.nonempty_bins);
    for (int i = 0; i < bins; ++i)
      err.bin_weight = std::max(err.bin_weight, ref::relative_error(oc.bin_weight[static_cast<std::size_t>(i)],
                                                                    wc.bin_weight[static_cast<std::size_t>(i)]));
    if (momentum) {
      REQUIRE(oc.acc_sum.size() == wc.acc_sum.size());
      for (int i = 0; i < bins; ++i)
        err.acc_sum = std::max(err.acc_sum, ref::relative_error(oc.acc_sum[static_cast<std::size_t>(i)],
                                                                wc.acc_sum[static_cast<std::size_t>(i)]));
    } else {
      CHECK(oc.acc_sum.empty());
    }
    err.loss = std::max(err.loss, ref::relative_error(oc.loss, wc.loss));
  }
  if (err.counts_equal) {
    err.loss = std::max(err.loss, ref::relative_error(ours.total, want.loss));
    err.loss = std::max(err.loss, ref::relative_error(ours.loss.item(), want.loss));
    err.grad = ref::normalised_error(ours.grad.to_vector<float>(), want.grad);
    if (ours.element_weight.defined()) {
      const std::vector<float> w = ours.element_weight.to_vector<float>();
      REQUIRE(w.size() == want.weight.size());
      for (std::size_t e = 0; e < w.size(); ++e)
        err.bin_weight = std::max(err.bin_weight, ref::relative_error(w[e], want.weight[e]));
    }
  }
  CHECK(err.loss <= kLossRtol);
  CHECK(err.grad <= kGradTol);
  CHECK(err.bin_weight <= kWeightRtol);
  CHECK(err.acc_sum <= kStateRtol);
  return err;
}

// The message of the ghm::Error `f` throws (empty, and a failed check, when it throws none).
std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected a ghm::Error");
  return {};
}
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

ref::GhmParams ref_params(const GhmcParams& p) { return {p.bins, p.momentum, p.loss_weight}; }
ref::GhmParams ref_params(const GhmrParams& p) { return {p.bins, p.momentum, p.loss_weight}; }

}  // namespace

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
          const GhmcParams params{30, momentum, 1.0f};
          GhmEmaState state(params.bins);
          const GhmcResult ours =
              ghm_c_forward(p.pred(), p.target(tf), p.weight(wf), params, state, {}, ElementWeights::Keep);
          ref::State ref_state(params.bins);
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
        const GhmrParams params{0.02f, 10, momentum, 10.0f};
        GhmEmaState state(params.bins);
        const GhmrResult ours =
            ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, state, {}, ElementWeights::Keep);
        ref::State ref_state(params.bins);
        const ref::Result want = ref::ghm_r(p.pred, p.target, p.weight, p.d, params.mu, ref_params(params), ref_state);
        all.merge(compare(ours, want, momentum > 0));
      }
  MESSAGE("ghm_r random: ", all.summary());
}

// ---- EMA over per-level calls ---------------------------------------------------------------------

TEST_CASE("ghm_c: a per-level sequence through one EMA state equals separate reference calls") {
  // Five levels of 47, 24, 13, 5 and 2 rows (K = 7): the small levels leave bins empty, whose S
  // must keep its value (spec 1.3). Two iterations, so the state also carries across calls.
  const std::vector<std::int64_t> levels{0, 47, 71, 84, 89, 91};
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState state(params.bins);
  ref::State ref_state(params.bins);
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
  const GhmrParams params{0.02f, 10, 0.7, 10.0f};
  GhmEmaState state(params.bins);
  ref::State ref_state(params.bins);
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
                     {p.weight.begin() + b, p.weight.begin() + e}, p.d, params.mu, ref_params(params), ref_state);
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
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState batch_state(params.bins);
  const GhmcResult ours =
      ghm_c_forward(p.pred(), p.target(TargetForm::OneHot), p.weight(WeightForm::PerElement), params, batch_state);
  REQUIRE(ours.calls.size() == 1);
  ref::State ref_state(params.bins);
  const ref::Result want = ref::ghm_c(p.logits, p.ref_target(), p.weight_elem, p.k, ref_params(params), ref_state);
  const Errors err = compare(ours, want, true);
  MESSAGE("ghm_c batch scope: ", err.summary());

  // The same rows split into levels give another loss (spec 1.3: not equivalent).
  GhmEmaState level_state(params.bins);
  const std::vector<std::int64_t> levels{0, 47, 71, 84, 89, 91};
  const GhmcResult per_level = ghm_c_forward(p.pred(), p.target(TargetForm::OneHot), p.weight(WeightForm::PerElement),
                                             params, level_state, levels);
  CHECK(per_level.calls.size() == 5);
  CHECK(ref::relative_error(per_level.total, ours.total) > 1e-3);

  const RegProblem r = make_reg_problem(501, 77, false, 0.5f);
  const GhmrParams rparams{0.02f, 10, 0.7, 10.0f};
  GhmEmaState rstate(rparams.bins);
  const GhmrResult rours = ghm_r_forward(r.pred_t(), r.target_t(), r.weight_t(), rparams, rstate);
  REQUIRE(rours.calls.size() == 1);
  ref::State rref_state(rparams.bins);
  compare(rours, ref::ghm_r(r.pred, r.target, r.weight, r.d, rparams.mu, ref_params(rparams), rref_state), true);
}

// ---- edge cases ---------------------------------------------------------------------------------

TEST_CASE("ghm_c: every element ignored gives loss 0 and gradient 0 with tot 1 and n 0 and the state untouched") {
  const ClsProblem p = make_cls_problem(600, 11, 3);
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState state(params.bins);
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
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState state(params.bins);
  const GhmcResult empty =
      ghm_c_forward(Tensor::zeros(Shape{0, 5}), Tensor::zeros(Shape{0, 5}), Tensor::zeros(Shape{0, 5}), params, state);
  CHECK(empty.total == 0.0);
  CHECK(empty.loss.item() == 0.0f);
  CHECK(empty.grad.shape() == Shape{0, 5});
  for (float s : state.acc_sum) CHECK(s == 0.0f);

  const GhmrParams rparams{0.02f, 10, 0.7, 10.0f};
  GhmEmaState rstate(rparams.bins);
  const GhmrResult rempty = ghm_r_forward(Tensor::zeros(Shape{0, 4}), Tensor::zeros(Shape{0, 4}),
                                          Tensor::zeros(Shape{0, 4}), rparams, rstate);
  CHECK(rempty.total == 0.0);
  CHECK(rempty.grad.shape() == Shape{0, 4});

  // A level with no rows in the middle of a sequence: tot 1, n 0, loss 0, the state untouched.
  const ClsProblem p = make_cls_problem(601, 20, 3);
  const std::vector<std::int64_t> levels{0, 12, 12, 20};
  GhmEmaState lstate(params.bins);
  const GhmcResult ours =
      ghm_c_forward(p.pred(), p.target(TargetForm::LabelsI64), p.weight(WeightForm::PerRow), params, lstate, levels);
  REQUIRE(ours.calls.size() == 3);
  CHECK(ours.calls[1].tot == 1.0);
  CHECK(ours.calls[1].nonempty_bins == 0);
  CHECK(ours.calls[1].loss == 0.0);
  CHECK(ours.calls[1].acc_sum == ours.calls[0].acc_sum);  // untouched: the very same bits
  ref::State ref_state(params.bins);
  compare(ours,
          ref::ghm_c(p.logits, p.ref_target(), p.ref_weight(WeightForm::PerRow), p.k, ref_params(params), ref_state,
                     levels),
          true);
}

TEST_CASE("ghm_c: one element and g exactly on an edge or equal to 1 or 0 land in the right bins") {
  const GhmcParams params{30, 0.0, 1.0f};
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
  const GhmcParams params{30, 0.0, 1.0f};
  const testing::EdgeProbes probes = testing::ghmc_edge_probes(params.bins);
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
  GhmEmaState rstate;
  const GhmrResult rours =
      ghm_r_forward(Tensor::from_vector(pred, Shape{rn, 4}), Tensor::from_vector(target, Shape{rn, 4}),
                    Tensor::from_vector(rw, Shape{rn, 4}), rparams, rstate);
  ref::State rref_state;
  const ref::Result rwant = ref::ghm_r(pred, target, rw, 4, rparams.mu, ref_params(rparams), rref_state);
  CHECK(rwant.calls[0].near_total == static_cast<std::int64_t>(pred.size()));
  const Errors rerr = compare(rours, rwant, false);
  MESSAGE("ghm_r at the edges: ", rerr.summary());
}

TEST_CASE("ghm_r: weights of 2 leave the loss unchanged (tot is the sum) and no positives gives 0") {
  const RegProblem p = make_reg_problem(700, 50, false, 0.4f);
  for (double momentum : {0.0, 0.7}) {
    CAPTURE(momentum);
    const GhmrParams params{0.02f, 10, momentum, 10.0f};
    std::vector<float> twice = p.weight;
    for (float& w : twice) w *= 2.0f;
    GhmEmaState s1(params.bins), s2(params.bins);
    const GhmrResult r1 = ghm_r_forward(p.pred_t(), p.target_t(), p.weight_t(), params, s1);
    const GhmrResult r2 =
        ghm_r_forward(p.pred_t(), p.target_t(), Tensor::from_vector(twice, Shape{p.n, p.d}), params, s2);
    CHECK(r2.calls[0].tot == doctest::Approx(2 * r1.calls[0].tot).epsilon(1e-12));
    // The same arithmetic up to an exact factor of 2 in tot and w: equal to float32 rounding.
    CHECK(ref::relative_error(r2.total, r1.total) <= 1e-6);
    const std::vector<float> g1 = r1.grad.to_vector<float>();
    CHECK(ref::normalised_error(r2.grad.to_vector<float>(), std::vector<double>(g1.begin(), g1.end())) <= 1e-6);
    ref::State ref_state(params.bins);
    compare(r2, ref::ghm_r(p.pred, p.target, twice, p.d, params.mu, ref_params(params), ref_state), momentum > 0);
  }

  const GhmrParams params{0.02f, 10, 0.7, 10.0f};
  GhmEmaState state(params.bins);
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
  const GhmrParams params{0.02f, 10, 0.0, 1.0f};
  GhmEmaState state;
  const std::vector<float> pred{0.5f, 1000.0f, -1000.0f, 0.01f};
  const std::vector<float> target{0.5f, 0.0f, 0.0f, 0.0f};
  const std::vector<float> w{1.0f, 1.0f, 1.0f, 1.0f};
  const GhmrResult r = ghm_r_forward(Tensor::from_vector(pred, Shape{1, 4}), Tensor::from_vector(target, Shape{1, 4}),
                                     Tensor::from_vector(w, Shape{1, 4}), params, state);
  CHECK(r.calls[0].num_in_bin[0] == 1);
  CHECK(r.calls[0].num_in_bin[9] == 2);
  ref::State ref_state;
  compare(r, ref::ghm_r(pred, target, w, 4, params.mu, ref_params(params), ref_state), false);
}

TEST_CASE("ghm_c and ghm_r: bins out of range and momentum outside 0 <= m < 1 are errors naming them") {
  const Tensor x = Tensor::zeros(Shape{3, 2}), w = Tensor::ones(Shape{3, 2});
  // 255: above the implementation's limit (bin indices are stored in a byte; 126 at most).
  for (int bins : {0, -3, 255}) {
    CAPTURE(bins);
    GhmEmaState state(10);
    CHECK(contains(error_message([&] { ghm_c_forward(x, x, w, GhmcParams{bins, 0.0, 1.0f}, state); }), "bins"));
    CHECK(contains(error_message([&] { ghm_r_forward(x, x, w, GhmrParams{0.02f, bins, 0.0, 1.0f}, state); }), "bins"));
  }
  for (double momentum : {1.0, 1.5, -0.1}) {
    CAPTURE(momentum);
    GhmEmaState state(10);
    CHECK(contains(error_message([&] { ghm_c_forward(x, x, w, GhmcParams{10, momentum, 1.0f}, state); }), "momentum"));
    CHECK(contains(error_message([&] {
                     ghm_r_forward(x, x, w, GhmrParams{0.02f, 10, momentum, 1.0f}, state);
                   }),
                   "momentum"));
  }
  // An EMA state of another size than bins (with momentum) is an error, not a silent resize.
  GhmEmaState small_state(10);
  CHECK(contains(error_message([&] { ghm_c_forward(x, x, w, GhmcParams{30, 0.75, 1.0f}, small_state); }), "state"));

  GhmEmaState state(10);
  const std::vector<std::int64_t> bad_levels{0, 2};  // must end at N = 3
  error_message([&] { ghm_c_forward(x, x, w, GhmcParams{10, 0.5, 1.0f}, state, bad_levels); });
  error_message([&] { ghm_c_forward(x, Tensor::zeros(Shape{3, 3}), w, GhmcParams{}, state); });
  error_message([&] { ghm_r_forward(x, x, Tensor::ones(Shape{3}), GhmrParams{}, state); });
}

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
  const GhmcParams params{10, 0.0, 1.0f};

  Tensor pred = Tensor::from_vector(x, Shape{n, k});
  pred.set_requires_grad(true);
  GhmEmaState state;
  const Tensor loss =
      ghm_c_loss(pred, Tensor::from_vector(y, Shape{n, k}), Tensor::from_vector(w, Shape{n, k}), params, state);
  loss.backward();
  const std::vector<float> analytic = pred.grad().to_vector<float>();
  CHECK(analytic[4] == 0.0f);

  // (a) Against central differences of the reference loss with the weights frozen, in double
  // (eps 1e-4: truncation ~eps^2 |f'''| ~ 1e-9 of a gradient of ~1e-2): the fast gradient is
  // within float32 rounding of the exact derivative.
  ref::State ref_state;
  const ref::Result want = ref::ghm_c(x, y, w, k, ref_params(params), ref_state);
  std::vector<double> xd(x.begin(), x.end()), numeric(x.size());
  for (std::size_t e = 0; e < x.size(); ++e) {
    const double eps = 1e-4, saved = xd[e];
    xd[e] = saved + eps;
    const double lp = ref::ghm_c_frozen_loss(xd, y, want.weight, want.calls[0].tot, 1.0);
    xd[e] = saved - eps;
    const double lm = ref::ghm_c_frozen_loss(xd, y, want.weight, want.calls[0].tot, 1.0);
    xd[e] = saved;
    numeric[e] = (lp - lm) / (2 * eps);
  }
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
  const GhmrParams params{mu, 10, 0.0, 10.0f};

  Tensor p = Tensor::from_vector(pred, Shape{n, d});
  p.set_requires_grad(true);
  GhmEmaState state;
  const Tensor loss =
      ghm_r_loss(p, Tensor::from_vector(target, Shape{n, d}), Tensor::from_vector(w, Shape{n, d}), params, state);
  loss.backward();
  const std::vector<float> analytic = p.grad().to_vector<float>();

  // Central differences in double of the frozen-weight reference loss (eps 1e-7: |d| >= 1e-3 so
  // the third derivative of ASL1 is <~ 1/mu^2 ~ 2.5e3: truncation ~1e-11, rounding ~1e-9).
  ref::State ref_state;
  const ref::Result want = ref::ghm_r(pred, target, w, d, mu, ref_params(params), ref_state);
  std::vector<double> pd(pred.begin(), pred.end()), numeric(pred.size());
  for (std::size_t e = 0; e < pred.size(); ++e) {
    const double eps = 1e-7, saved = pd[e];
    pd[e] = saved + eps;
    const double lp = ref::ghm_r_frozen_loss(pd, target, want.weight, mu, want.calls[0].tot, params.loss_weight);
    pd[e] = saved - eps;
    const double lm = ref::ghm_r_frozen_loss(pd, target, want.weight, mu, want.calls[0].tot, params.loss_weight);
    pd[e] = saved;
    numeric[e] = (lp - lm) / (2 * eps);
  }
  const double err = ref::normalised_error(analytic, numeric);
  MESSAGE("ghm_r gradient vs double finite differences (frozen weights): normalised error ", err);
  CHECK(err <= kGradTol);
}

TEST_CASE("ghm_c and ghm_r: an upstream gradient of 2.5 scales the gradient") {
  const ClsProblem p = make_cls_problem(900, 31, 7);
  const GhmcParams params{30, 0.75, 1.0f};
  GhmEmaState state(params.bins);
  Tensor pred = p.pred();
  pred.set_requires_grad(true);
  const Tensor loss =
      ghm_c_loss(pred, p.target(TargetForm::LabelsI32), p.weight(WeightForm::PerElement), params, state);
  CHECK(loss.shape() == Shape{});
  mul_scalar(loss, 2.5f).backward();
  ref::State ref_state(params.bins);
  ref::Result want = ref::ghm_c(p.logits, p.ref_target(), p.weight_elem, p.k, ref_params(params), ref_state);
  for (double& g : want.grad) g *= 2.5;
  CHECK(ref::relative_error(loss.item(), want.loss) <= kLossRtol);
  CHECK(ref::normalised_error(pred.grad().to_vector<float>(), want.grad) <= kGradTol);

  const RegProblem r = make_reg_problem(901, 31, false, 0.5f);
  const GhmrParams rparams{0.02f, 10, 0.7, 10.0f};
  GhmEmaState rstate(rparams.bins);
  Tensor rpred = r.pred_t();
  rpred.set_requires_grad(true);
  const Tensor rloss = ghm_r_loss(rpred, r.target_t(), r.weight_t(), rparams, rstate);
  mul_scalar(rloss, 2.5f).backward();
  ref::State rref_state(rparams.bins);
  ref::Result rwant = ref::ghm_r(r.pred, r.target, r.weight, r.d, rparams.mu, ref_params(rparams), rref_state);
  for (double& g : rwant.grad) g *= 2.5;
  CHECK(ref::relative_error(rloss.item(), rwant.loss) <= kLossRtol);
  CHECK(ref::normalised_error(rpred.grad().to_vector<float>(), rwant.grad) <= kGradTol);
}

// ---- determinism ----------------------------------------------------------------------------------

TEST_CASE("ghm_c and ghm_r: bit-identical results run to run and for 1 or 2 or all threads") {
  // Large enough (140k elements) for the CPU kernels to split the work across threads.
  const ClsProblem p = make_cls_problem(1000, 20011, 7);
  const RegProblem r = make_reg_problem(1001, 30011, false, 0.4f);
  const std::vector<std::int64_t> levels{0, 15000, 18800, 19800, 19990, 20011};
  const std::vector<std::int64_t> rlevels{0, 22000, 28000, 29500, 30000, 30011};
  const int saved_threads = omp_get_max_threads();

  struct Run {
    std::vector<float> c_grad, r_grad, c_state, r_state;
    float c_loss = 0, r_loss = 0;
  };
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Run out;
    GhmEmaState cs(30), rs(10);
    for (int iteration = 0; iteration < 2; ++iteration) {
      const GhmcResult c = ghm_c_forward(p.pred(), p.target(TargetForm::LabelsI64), p.weight(WeightForm::PerRow),
                                         GhmcParams{30, 0.75, 1.0f}, cs, levels);
      const GhmrResult g =
          ghm_r_forward(r.pred_t(), r.target_t(), r.weight_t(), GhmrParams{0.02f, 10, 0.7, 10.0f}, rs, rlevels);
      out.c_grad = c.grad.to_vector<float>();
      out.r_grad = g.grad.to_vector<float>();
      out.c_loss = c.loss.item();
      out.r_loss = g.loss.item();
    }
    out.c_state = cs.acc_sum;
    out.r_state = rs.acc_sum;
    return out;
  };
  auto bits_equal = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  const Run base = run(1);
  for (int threads : {1, 2, std::max(2, omp_get_num_procs())}) {
    CAPTURE(threads);
    const Run other = run(threads);
    // Bit identity is the point here, so the floats are compared by their bytes.
    CHECK(std::memcmp(&base.c_loss, &other.c_loss, sizeof(float)) == 0);
    CHECK(std::memcmp(&base.r_loss, &other.r_loss, sizeof(float)) == 0);
    CHECK(bits_equal(base.c_grad, other.c_grad));
    CHECK(bits_equal(base.r_grad, other.r_grad));
    CHECK(bits_equal(base.c_state, other.c_state));
    CHECK(bits_equal(base.r_state, other.r_state));
  }
  omp_set_num_threads(saved_threads);
}
