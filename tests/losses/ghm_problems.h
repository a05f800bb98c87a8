// The GHM test cases' checks (tests/losses/test_ghm_*.cpp): the comparison of a forward with the
// brute-force float64 reference (reference_losses.h), on the random problems of loss_problems.h.
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
#include "losses/ghm_settings.h"
#include "losses/ghm_state.h"
#include "losses/loss_problems.h"
#include "losses/reference_losses.h"

namespace ghm::testing::ghm_cases {

using namespace ghm::losses;
using namespace ghm::testing::loss_problems;
namespace ref = ghm::testing::reference;

inline constexpr double kLossRtol = 1e-5;
inline constexpr double kGradTol = 1e-5;
inline constexpr double kWeightRtol = 1e-5;
inline constexpr double kStateRtol = 2e-6;
inline constexpr double kTotRtol = 1e-7;

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

// dL/dx_e of `loss` at x by central differences in double (step eps), for every element e.
inline std::vector<double> central_differences(std::vector<double> x, double eps,
                                               const std::function<double(const std::vector<double>&)>& loss) {
  std::vector<double> numeric(x.size());
  for (std::size_t e = 0; e < x.size(); ++e) {
    const double saved = x[e];
    x[e] = saved + eps;
    const double lp = loss(x);
    x[e] = saved - eps;
    const double lm = loss(x);
    x[e] = saved;
    numeric[e] = (lp - lm) / (2 * eps);
  }
  return numeric;
}

}  // namespace ghm::testing::ghm_cases
