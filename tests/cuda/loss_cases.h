// The CUDA loss suites' checks (tests/cuda/test_cuda_ghm_*.cpp, test_cuda_baselines.cpp): the
// comparison of a CUDA forward with its CPU twin on the same inputs, the random problems of
// tests/losses/loss_problems.h (the CPU suites' problems).
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
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/tensor.h"
#include "losses/ghm_settings.h"
#include "losses/ghm_state.h"
#include "losses/loss_problems.h"
#include "losses/reference_losses.h"

namespace ghm::testing::cuda_loss_cases {

using namespace ghm::losses;
using namespace ghm::testing::loss_problems;
namespace ref = ghm::testing::reference;

inline const Device kGpu = Device::cuda(0);

inline constexpr double kLossRtol = 2e-6;
inline constexpr double kGradTol = 2e-6;
inline constexpr double kWeightRtol = 1e-6;
inline constexpr double kWeightSumRtol = 1e-12;

// The share of positive rows in the GHM-R problems with bbox weights here.
inline constexpr float kPositiveFraction = 0.4f;

inline double rel(double got, double want) { return want != 0 ? std::abs(got - want) / std::abs(want) : std::abs(got); }

inline std::vector<float> host(const Tensor& t) { return t.detach().to(Device::cpu()).to_vector<float>(); }

// max |got - want| / max |want| (or max |got| when want is all zero).
inline double normalised(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return scale > 0 ? err / scale : err;
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
inline Report compare_runs(const GhmResult& gpu, const GhmResult& cpu, const ref::Result& near, Tot tot_rule) {
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

// A GHM forward: ghm_c_forward or ghm_r_forward (the same arguments).
using GhmForward = GhmResult (*)(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                                 const GhmSettings& settings, GhmEmaState& state,
                                 std::span<const std::int64_t> level_rows, ElementWeights keep);

struct CpuAndGpu {
  GhmResult cpu, gpu;
};

// One forward on the CPU and on the GPU from the same host inputs pred, target [N, cols], every
// label weight 1, each backend with a fresh state, element weights kept.
inline CpuAndGpu run_on_both(GhmForward forward, const std::vector<float>& pred, const std::vector<float>& target,
                             std::int64_t cols, const GhmSettings& settings) {
  const Shape shape{static_cast<std::int64_t>(pred.size()) / cols, cols};
  const Tensor x = Tensor::from_vector(pred, shape), y = Tensor::from_vector(target, shape), w = Tensor::ones(shape);
  GhmEmaState cpu_state, gpu_state;
  return {forward(x, y, w, settings, cpu_state, {}, ElementWeights::Keep),
          forward(x.to(kGpu), y.to(kGpu), w.to(kGpu), settings, gpu_state, {}, ElementWeights::Keep)};
}

// The reference run of a GHM-C problem (for its near-edge flags).
inline ref::Result ref_ghm_c(const ClsProblem& p, WeightForm wf, const GhmSettings& params,
                      const std::vector<std::int64_t>& levels = {}) {
  ref::State state(params.bins());
  return ref::ghm_c(p.logits, p.ref_target(), p.ref_weight(wf), p.k, ref_params(params), state, levels);
}

inline ref::Result ref_ghm_r(const RegProblem& p, const GhmSettings& params, const std::vector<std::int64_t>& levels = {}) {
  ref::State state(params.bins());
  return ref::ghm_r(p.pred, p.target, p.weight, p.d, params.mu(), ref_params(params), state, levels);
}

}  // namespace ghm::testing::cuda_loss_cases
