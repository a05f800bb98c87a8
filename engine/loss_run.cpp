// The loss runner of loss_run.h: reads the steps, runs each call (GHM through one EMA state,
// ghmc-exact, or a baseline through autograd) and writes the outputs in the order the reference's
// files hold them.
#include "engine/loss_run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/ops/shape_ops.h"
#include "engine/config.h"
#include "io/safetensors.h"
#include "losses/baselines.h"
#include "losses/ghm_c.h"
#include "losses/ghm_c_exact.h"
#include "losses/ghm_math.h"
#include "losses/ghm_r.h"

namespace ghm::engine {
namespace {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

bool is_ghm(const LossRunOptions& o) { return o.kind == "ghmc" || o.kind == "ghmr"; }

bool is_classification(const LossRunOptions& o) {
  return o.kind == "ghmc" || o.kind == "ghmc-exact" || o.kind == "bce" || o.kind == "focal";
}

void check_options(const LossRunOptions& o) {
  const bool known = is_classification(o) || o.kind == "ghmr" || o.kind == "sl1" || o.kind == "asl1";
  GHM_CHECK(known, "loss: --kind '", o.kind, "' must be ghmc, ghmr, ghmc-exact, bce, focal, sl1 or asl1");
  GHM_CHECK(o.scope == "per_level" || o.scope == "batch", "loss: --scope '", o.scope, "' must be per_level or batch");
}

struct Step {
  Tensor pred, target, label_weight;
};

void check_finite(const Tensor& t, const std::string& name, const std::string& file) {
  if (t.dtype() != DType::F32) return;
  const float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    GHM_CHECK(std::isfinite(p[i]), file, ": tensor '", name, "' holds ", p[i], " at element ", i);
}

std::vector<Step> read_steps(const io::SafetensorsData& in, const LossRunOptions& o) {
  std::vector<std::string> suffixes;
  if (in.contains("pred")) {
    suffixes.push_back("");
  } else {
    for (int k = 0;; ++k) {
      std::string suffix = ".";
      suffix += std::to_string(k);
      if (!in.contains("pred" + suffix)) break;
      suffixes.push_back(suffix);
    }
  }
  GHM_CHECK(!suffixes.empty(), in.path, ": no tensor 'pred' or 'pred.0'");
  std::vector<Step> steps;
  for (const std::string& s : suffixes) {
    Step st{in.at("pred" + s), in.at("target" + s), in.at("label_weight" + s)};
    check_finite(st.pred, "pred" + s, in.path);
    check_finite(st.target, "target" + s, in.path);
    check_finite(st.label_weight, "label_weight" + s, in.path);
    GHM_CHECK(st.pred.dim() == 2, in.path, ": 'pred", s, "' must be [N, K], got ", st.pred.shape());
    if (is_classification(o) && st.target.dtype() != DType::F32) {
      const Tensor labels = st.target.to(DType::I64);
      const std::int64_t k = st.pred.size(1);
      for (std::int64_t i = 0; i < labels.numel(); ++i) {
        const std::int64_t v = labels.data<std::int64_t>()[i];
        GHM_CHECK(v >= -1 && v <= k, in.path, ": 'target", s, "' label ", v, " at row ", i, " is outside [-1, ", k,
                  "] (K = ", k, " is background)");
      }
    }
    steps.push_back(st);
  }
  return steps;
}

// Number of rows with any positive weight, of positive (valid) elements, of valid elements.
struct Counts {
  double rows_with_weight = 0, positives = 0, valid = 0;
};

Counts count(const Step& st) {
  Counts c;
  const std::int64_t n = st.pred.size(0), k = st.pred.size(1);
  const Tensor lw = st.label_weight;
  const bool per_row = lw.dim() == 1;
  const Tensor labels = st.target.dtype() == DType::F32 ? Tensor() : st.target.to(DType::I64);
  for (std::int64_t r = 0; r < n; ++r) {
    bool any = false;
    for (std::int64_t j = 0; j < k; ++j) {
      const float w = per_row ? lw.data<float>()[r] : lw.data<float>()[r * k + j];
      if (!(w > 0.0f)) continue;
      any = true;
      c.valid += 1;
      const bool pos = labels.defined() ? labels.data<std::int64_t>()[r] == j
                                        : st.target.dim() == 2 && st.target.data<float>()[r * k + j] == 1.0f;
      if (pos) c.positives += 1;
    }
    if (any) c.rows_with_weight += 1;
  }
  return c;
}

double default_avg_factor(const LossRunOptions& o, const Step& st) {
  if (o.avg_factor > 0) return o.avg_factor;
  const Counts c = count(st);
  if (o.kind == "bce") return std::max(c.valid, 1.0);
  if (o.kind == "focal") return std::max(c.positives, 1.0);
  return std::max(c.rows_with_weight, 1.0);
}

Step concat_steps(const std::vector<Step>& steps) {
  std::vector<Tensor> p, t, w;
  for (const Step& s : steps) {
    p.push_back(s.pred);
    t.push_back(s.target);
    w.push_back(s.label_weight);
  }
  return {concat(p, 0), concat(t, 0), concat(w, 0)};
}

// The settings of kind ghmc or ghmr; their errors name the options.
losses::GhmSettings ghm_settings(const LossRunOptions& o) {
  const losses::GhmSettingNames flags{"--bins", "--momentum", "--loss-weight", "--mu"};
  return o.kind == "ghmc" ? losses::GhmSettings::classification(o.bins, o.momentum, o.loss_weight, flags)
                          : losses::GhmSettings::regression(o.mu, o.bins, o.momentum, o.loss_weight, flags);
}

// The EMA state the first GHM call starts from: empty, or the input's `acc_sum`.
losses::GhmEmaState initial_state(const io::SafetensorsData& in, const LossRunOptions& o) {
  losses::GhmEmaState state(o.bins);
  if (!in.contains("acc_sum")) return state;
  GHM_CHECK(is_ghm(o) && o.momentum > 0.0, o.in, ": 'acc_sum' (an EMA state) needs a GHM kind with --momentum > 0");
  const Tensor a = in.at("acc_sum");
  GHM_CHECK(a.dtype() == DType::F32 && a.dim() == 1 && a.size(0) == o.bins, o.in, ": 'acc_sum' must be f32 [", o.bins,
            "] (--bins), got ", a.dtype(), " ", a.shape());
  state.acc_sum = a.to_vector<float>();
  return state;
}

// bce, focal, sl1 or asl1 of `pred` (a leaf that collects the gradient) against the step's targets.
Tensor baseline_loss(const LossRunOptions& o, const Tensor& pred, const Step& st, double avg) {
  if (o.kind == "bce") return losses::bce_with_logits_loss(pred, st.target, st.label_weight, avg, o.loss_weight);
  if (o.kind == "focal")
    return losses::sigmoid_focal_loss(pred, st.target, st.label_weight, avg, o.alpha, o.gamma, o.loss_weight);
  if (o.kind == "sl1") return losses::smooth_l1_loss(pred, st.target, st.label_weight, avg, o.beta, o.loss_weight);
  return losses::asl1_loss(pred, st.target, st.label_weight, avg, o.mu, o.loss_weight);
}

Tensor on_host(const Tensor& t) { return t.defined() ? t.detach().to(Device::cpu()) : t; }

// What one call gives: the loss, the gradient and, for GHM and ghmc-exact, the element weights.
struct CallOutput {
  float loss = 0;
  Tensor grad, weights;
};

// Call `c` on `host_step` (run on `device`); a GHM call advances `state` and appends its
// num_in_bin.c and acc_sum.c to `stats`.
CallOutput run_call(const LossRunOptions& o, const Step& host_step, Device device, losses::GhmEmaState& state,
                    std::size_t c, NamedTensors& stats) {
  const Step st{host_step.pred.to(device), host_step.target.to(device), host_step.label_weight.to(device)};
  if (is_ghm(o)) {
    const auto forward = o.kind == "ghmc" ? losses::ghm_c_forward : losses::ghm_r_forward;
    const losses::GhmResult r = forward(st.pred, st.target, st.label_weight, ghm_settings(o), state, {},
                                        losses::ElementWeights::Keep);
    const losses::GhmCallStats& s = r.calls.front();
    const std::string k = std::to_string(c);
    stats.emplace_back("num_in_bin." + k, Tensor::from_vector(s.num_in_bin, Shape{o.bins}));
    stats.emplace_back("acc_sum." + k, s.acc_sum.empty() ? Tensor::zeros(Shape{o.bins})
                                                         : Tensor::from_vector(s.acc_sum, Shape{o.bins}));
    return {static_cast<float>(r.total), on_host(r.grad), on_host(r.element_weight)};
  }
  if (o.kind == "ghmc-exact") {
    GHM_CHECK(o.bins >= 1, "loss: --bins must be >= 1 for ghmc-exact (eps = 1 / bins), got ", o.bins);
    const losses::GhmResult r = losses::ghm_c_exact_forward(st.pred, st.target, st.label_weight,
                                                            {1.0 / o.bins, o.loss_weight}, {},
                                                            losses::ElementWeights::Keep);
    return {static_cast<float>(r.total), r.grad, r.element_weight};
  }
  Tensor pred = st.pred.detach().clone();
  pred.set_requires_grad(true);
  const Tensor loss = baseline_loss(o, pred, st, default_avg_factor(o, host_step));
  const float value = loss.item();
  loss.backward();  // the fused op hands back its stored gradient
  return {value, on_host(pred.grad()), Tensor()};
}

}  // namespace

void run_loss_file(const LossRunOptions& o) {
  check_options(o);
  // Fails with the reason when this build has no CUDA backend or the machine no such GPU.
  const Device device = parse_device(o.device, "loss --device");
  const io::SafetensorsData in = io::load_safetensors(o.in);
  const std::vector<Step> steps = read_steps(in, o);
  losses::GhmEmaState state = initial_state(in, o);

  std::vector<std::int64_t> step_rows{0};
  for (const Step& s : steps) step_rows.push_back(step_rows.back() + s.pred.size(0));
  const bool batch = o.scope == "batch";
  const std::vector<Step> calls = batch ? std::vector<Step>{concat_steps(steps)} : steps;

  NamedTensors out;
  std::vector<CallOutput> results;
  std::vector<float> losses;
  for (std::size_t c = 0; c < calls.size(); ++c) {
    results.push_back(run_call(o, calls[c], device, state, c, out));
    losses.push_back(results.back().loss);
  }

  // Split batch-scope results back into the steps.
  const bool has_weights = is_ghm(o) || o.kind == "ghmc-exact";
  for (std::size_t k = 0; k < steps.size(); ++k) {
    const std::int64_t r0 = step_rows[k], rows = step_rows[k + 1] - r0;
    auto part = [&](const Tensor& t) { return batch ? narrow(t, 0, r0, rows) : t; };
    const CallOutput& r = results[batch ? 0 : k];
    out.emplace_back("grad." + std::to_string(k), part(r.grad));
    if (has_weights) out.emplace_back("weights." + std::to_string(k), part(r.weights));
  }
  out.emplace(out.begin(), "loss", Tensor::from_vector(losses, Shape{static_cast<std::int64_t>(losses.size())}));
  io::save_safetensors(o.out, out, {{"kind", o.kind}, {"scope", o.scope}});
  for (std::size_t i = 0; i < losses.size(); ++i) std::printf("loss[%zu] = %.9g\n", i, static_cast<double>(losses[i]));
}

}  // namespace ghm::engine
