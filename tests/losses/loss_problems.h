// The loss suites' random problems, shared by the CPU suites (tests/losses/, which compare with the
// float64 reference) and the GPU suites (tests/cuda/, which compare with the CPU): GHM-C and GHM-R
// inputs in every form the losses accept, the random cases run over them, and error probes.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/random.h"
#include "core/tensor.h"
#include "losses/ghm_settings.h"
#include "losses/reference_losses.h"

namespace ghm::testing::loss_problems {

namespace ref = ghm::testing::reference;
using losses::GhmSettings;

// ---- GHM-C ------------------------------------------------------------------------------------

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
      case TargetForm::OneHot: return Tensor::from_vector(ref_target(), Shape{n, k});
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
    const auto some_class = static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(k));
    p.labels.push_back(u < 0.1f ? -1 : (u < 0.55f ? k : some_class));
    p.weight_row.push_back(random_label_weight(gen, 0.15f));
  }
  for (std::int64_t i = 0; i < n * k; ++i) p.weight_elem.push_back(random_label_weight(gen, 0.2f));
  return p;
}

struct ClsSize {
  std::int64_t n, k;
};

// The random GHM-C cases: for each size a problem (seeds first_seed, first_seed + 1, ...), in every
// target and weight form, with 30 bins without and with momentum 0.75: f(problem, tf, wf, settings).
template <class F>
void for_each_random_cls_case(std::uint64_t first_seed, std::initializer_list<ClsSize> sizes, F&& f) {
  std::uint64_t seed = first_seed;
  for (const ClsSize size : sizes) {
    const ClsProblem p = make_cls_problem(seed++, size.n, size.k);
    for (TargetForm tf : {TargetForm::OneHot, TargetForm::LabelsI64, TargetForm::LabelsI32})
      for (WeightForm wf : {WeightForm::PerElement, WeightForm::PerRow})
        for (double momentum : {0.0, 0.75}) {
          CAPTURE(size.n);
          CAPTURE(size.k);
          CAPTURE(name(tf));
          CAPTURE(name(wf));
          CAPTURE(momentum);
          f(p, tf, wf, GhmSettings::classification(30, momentum, 1.0f));
        }
  }
}

// ---- GHM-R ------------------------------------------------------------------------------------

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
      const float values[] = {0.0f, 0.5f, 1.0f, 2.0f};
      p.weight.push_back(mixed ? values[gen.next_u64() % 4] : (positive ? 1.0f : 0.0f));
    }
  }
  return p;
}

// The random GHM-R cases: for each n, bbox and mixed weights, without and with momentum 0.7, a
// problem (seeds first_seed, first_seed + 1, ...) and settings with mu 0.02, 10 bins and
// loss_weight 10: f(problem, settings).
template <class F>
void for_each_random_reg_case(std::uint64_t first_seed, std::initializer_list<std::int64_t> sizes,
                              float positive_fraction, F&& f) {
  std::uint64_t seed = first_seed;
  for (std::int64_t n : sizes)
    for (bool mixed : {false, true})
      for (double momentum : {0.0, 0.7}) {
        CAPTURE(n);
        CAPTURE(mixed);
        CAPTURE(momentum);
        f(make_reg_problem(seed++, n, mixed, positive_fraction), GhmSettings::regression(0.02f, 10, momentum, 10.0f));
      }
}

// The reference's view of GHM settings.
inline ref::GhmParams ref_params(const GhmSettings& p) { return {p.bins(), p.momentum(), p.loss_weight()}; }

// ---- errors -----------------------------------------------------------------------------------

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

}  // namespace ghm::testing::loss_problems
