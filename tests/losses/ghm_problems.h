// The GHM test cases' shared inputs and checks (tests/losses/test_ghm_*.cpp): random GHM-C and
// GHM-R problems in every input form the losses accept, and the comparison of a forward with the
// brute-force float64 reference (reference_losses.h).
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
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/random.h"
#include "core/tensor.h"
#include "losses/ghm_settings.h"
#include "losses/ghm_state.h"
#include "losses/reference_losses.h"

namespace ghm::testing::ghm_cases {

using namespace ghm::losses;
namespace ref = ghm::testing::reference;

inline constexpr double kLossRtol = 1e-5;
inline constexpr double kGradTol = 1e-5;
inline constexpr double kWeightRtol = 1e-5;
inline constexpr double kStateRtol = 2e-6;
inline constexpr double kTotRtol = 1e-7;

// ---- inputs -----------------------------------------------------------------------------------

enum class TargetForm { OneHot, LabelsI64, LabelsI32 };
enum class WeightForm { PerElement, PerRow };

inline const char* name(TargetForm f) {
  switch (f) {
    case TargetForm::OneHot: return "one-hot f32 [N,K]";
    case TargetForm::LabelsI64: return "labels i64 [N]";
    case TargetForm::LabelsI32: return "labels i32 [N]";
  }
  return "?";
}
inline const char* name(WeightForm f) { return f == WeightForm::PerElement ? "weight [N,K]" : "weight [N]"; }

// A logit: mostly spread over [-6, 6] (every bin gets some), some near the 0.01 prior bias
// (-4.6), some saturated (|x| in [8, 30]).
inline float random_logit(Generator& gen) {
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
inline float random_label_weight(Generator& gen, float zero_fraction) {
  const float u = gen.uniform();
  if (u < zero_fraction) return 0.0f;
  return u < 0.8f ? 1.0f : gen.uniform(0.25f, 3.0f);
}

inline ClsProblem make_cls_problem(std::uint64_t seed, std::int64_t n, std::int64_t k) {
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

inline float random_delta(Generator& gen) {
  const float u = gen.uniform();
  const float sign = gen.uniform() < 0.5f ? -1.0f : 1.0f;
  if (u < 0.75f) return sign * std::exp(gen.uniform(std::log(0.002f), std::log(0.5f)));
  if (u < 0.85f) return sign * gen.uniform(0.0f, 1e-4f);
  return sign * gen.uniform(1.0f, 40.0f);
}

// Weights as RetinaNet's bbox_weights (1 on the four coordinates of a positive row, else 0), or,
// with `mixed`, any of {0, 0.5, 1, 2} per element (tot is then their sum).
inline RegProblem make_reg_problem(std::uint64_t seed, std::int64_t n, bool mixed, float positive_fraction = 0.3f) {
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
inline Errors compare(const GhmResult& ours, const ref::Result& want, bool momentum) {
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
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected a ghm::Error");
  return {};
}
inline bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

inline ref::GhmParams ref_params(const GhmSettings& p) { return {p.bins(), p.momentum(), p.loss_weight()}; }


}  // namespace ghm::testing::ghm_cases
