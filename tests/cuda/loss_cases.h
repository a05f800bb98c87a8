// The CUDA loss suites' shared inputs and checks (tests/cuda/test_cuda_ghm_*.cpp,
// test_cuda_baselines.cpp): random GHM-C and GHM-R problems in every input form, and the
// comparison of a CUDA forward with its CPU twin on the same inputs.
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
#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/random.h"
#include "core/tensor.h"
#include "losses/ghm_settings.h"
#include "losses/ghm_state.h"
#include "losses/reference_losses.h"

namespace ghm::testing::cuda_loss_cases {

using namespace ghm::losses;
namespace ref = ghm::testing::reference;

inline const Device kGpu = Device::cuda(0);

inline constexpr double kLossRtol = 2e-6;
inline constexpr double kGradTol = 2e-6;
inline constexpr double kWeightRtol = 1e-6;
inline constexpr double kWeightSumRtol = 1e-12;

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

// ---- inputs -----------------------------------------------------------------------------------

enum class TargetForm { OneHot, LabelsI64, LabelsI32 };
enum class WeightForm { PerElement, PerRow };

inline float random_logit(Generator& gen) {
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

inline ClsProblem make_cls_problem(std::uint64_t seed, std::int64_t n, std::int64_t k) {
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
inline RegProblem make_reg_problem(std::uint64_t seed, std::int64_t n, bool mixed) {
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

// The reference run of a GHM-C problem (for its near-edge flags).
inline ref::Result ref_ghm_c(const ClsProblem& p, WeightForm wf, const GhmSettings& params,
                      const std::vector<std::int64_t>& levels = {}) {
  ref::State state(params.bins());
  return ref::ghm_c(p.logits, ref::expand_labels(p.labels, p.k), p.ref_weight(wf), p.k,
                    {params.bins(), params.momentum(), params.loss_weight()}, state, levels);
}

inline ref::Result ref_ghm_r(const RegProblem& p, const GhmSettings& params, const std::vector<std::int64_t>& levels = {}) {
  ref::State state(params.bins());
  return ref::ghm_r(p.pred, p.target, p.weight, p.d, params.mu(), {params.bins(), params.momentum(), params.loss_weight()},
                    state, levels);
}

inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected a ghm::Error");
  return {};
}

}  // namespace ghm::testing::cuda_loss_cases
