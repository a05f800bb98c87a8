// `ghm_retinanet loss`: runs one of our losses on tensors from a safetensors file and writes the
// loss, the gradient and (for GHM) the weights, bin counts and EMA state, so that any other
// implementation (tools/ghm_reference.py is one) can be checked against ours on the same input.
//
// Input: `pred`, `target`, `label_weight`, or a sequence `pred.0`, `target.0`, `label_weight.0`,
// `pred.1`, ... run in order through one EMA state (each step one call with its own tot and n, as
// the reference's per-level calls); optional `acc_sum` [bins] is the initial state.
// Output: `loss` [steps]; per step k: `grad.k`; for ghmc/ghmr also `weights.k`, `num_in_bin.k`,
// `acc_sum.k`. With --scope batch the steps are concatenated into one call (loss has one entry).
// --device cuda (or cuda:I) copies the inputs to that GPU, runs the loss there and copies the
// outputs back; ghmc-exact runs on the CPU only.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "engine/config.h"
#include "core/autograd.h"
#include "core/ops/shape_ops.h"
#include "io/safetensors.h"
#include "losses/baselines.h"
#include "losses/ghm_c.h"
#include "losses/ghm_c_exact.h"
#include "losses/ghm_r.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine
namespace {

const char* kUsage =
    "usage: ghm_retinanet loss --kind ghmc|ghmr|ghmc-exact|bce|focal|sl1|asl1 --in IN.safetensors --out OUT.safetensors\n"
    "                          [--bins M] [--momentum A] [--mu U] [--loss-weight W] [--alpha A] [--gamma G]\n"
    "                          [--beta B] [--avg-factor F] [--scope per_level|batch] [--device cpu|cuda|cuda:I]\n"
    "ghmc-exact uses the paper's exact density with the window eps = 1 / bins.\n";

struct Options {
  bool help = false;
  std::string kind, in, out, scope = "per_level", device = "cpu";
  int bins = 10;
  double momentum = 0.0, avg_factor = -1.0;  // avg_factor < 0: the kind's default
  float mu = 0.02f, loss_weight = 1.0f, alpha = 0.25f, gamma = 2.0f, beta = 1.0f / 9.0f;
};

double parse_number(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(v)) throw UsageError("loss: " + flag + " expects a number, got '" + text + "'");
  return v;
}

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help") {
      o.help = true;
      return o;
    }
    if (i + 1 >= args.size()) throw UsageError("loss: option '" + a + "' needs a value (or is unknown)");
    const std::string& v = args[++i];
    if (a == "--kind") o.kind = v;
    else if (a == "--in") o.in = v;
    else if (a == "--out") o.out = v;
    else if (a == "--scope") o.scope = v;
    else if (a == "--device") o.device = v;
    else if (a == "--bins") o.bins = static_cast<int>(parse_number(a, v));
    else if (a == "--momentum") o.momentum = parse_number(a, v);
    else if (a == "--mu") o.mu = static_cast<float>(parse_number(a, v));
    else if (a == "--loss-weight") o.loss_weight = static_cast<float>(parse_number(a, v));
    else if (a == "--alpha") o.alpha = static_cast<float>(parse_number(a, v));
    else if (a == "--gamma") o.gamma = static_cast<float>(parse_number(a, v));
    else if (a == "--beta") o.beta = static_cast<float>(parse_number(a, v));
    else if (a == "--avg-factor") {
      o.avg_factor = parse_number(a, v);
      if (!(o.avg_factor > 0.0)) throw UsageError("loss: --avg-factor must be positive, got '" + v + "'");
    }
    else throw UsageError("loss: unknown option '" + a + "'");
  }
  static const std::vector<std::string> kinds = {"ghmc", "ghmr", "ghmc-exact", "bce", "focal", "sl1", "asl1"};
  if (o.kind.empty() || o.in.empty() || o.out.empty()) throw UsageError("loss: --kind, --in and --out are required");
  if (std::find(kinds.begin(), kinds.end(), o.kind) == kinds.end())
    throw UsageError("loss: unknown --kind '" + o.kind + "' (ghmc, ghmr, ghmc-exact, bce, focal, sl1, asl1)");
  if (o.scope != "per_level" && o.scope != "batch")
    throw UsageError("loss: --scope must be per_level or batch, got '" + o.scope + "'");
  if (o.kind == "ghmc-exact" && o.device != "cpu")
    throw UsageError("loss: --kind ghmc-exact runs on the CPU only (--device cpu)");
  return o;
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

std::vector<Step> read_steps(const io::SafetensorsData& in, const Options& o) {
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
  const bool classification = o.kind == "ghmc" || o.kind == "ghmc-exact" || o.kind == "bce" || o.kind == "focal";
  std::vector<Step> steps;
  for (const std::string& s : suffixes) {
    Step st{in.at("pred" + s), in.at("target" + s), in.at("label_weight" + s)};
    check_finite(st.pred, "pred" + s, in.path);
    check_finite(st.target, "target" + s, in.path);
    check_finite(st.label_weight, "label_weight" + s, in.path);
    GHM_CHECK(st.pred.dim() == 2, in.path, ": 'pred", s, "' must be [N, K], got ", st.pred.shape());
    if (classification && st.target.dtype() != DType::F32) {
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

double default_avg_factor(const Options& o, const Step& st) {
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

}  // namespace

int run_loss(const std::vector<std::string>& args) {
  const Options o = parse(args);
  if (o.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  // Fails with the reason when this build has no CUDA backend or the machine no such GPU.
  const Device device = parse_device(o.device, "loss --device");
  auto on_device = [&](const Step& s) {
    return Step{s.pred.to(device), s.target.to(device), s.label_weight.to(device)};
  };
  auto on_host = [](const Tensor& t) { return t.defined() ? t.detach().to(Device::cpu()) : t; };
  const io::SafetensorsData in = io::load_safetensors(o.in);
  std::vector<Step> steps = read_steps(in, o);
  const bool ghm = o.kind == "ghmc" || o.kind == "ghmr";
  losses::GhmEmaState state(o.bins);
  if (in.contains("acc_sum")) {
    GHM_CHECK(ghm && o.momentum > 0.0, o.in, ": 'acc_sum' (an EMA state) needs a GHM kind with --momentum > 0");
    const Tensor a = in.at("acc_sum");
    GHM_CHECK(a.dtype() == DType::F32 && a.dim() == 1 && a.size(0) == o.bins, o.in, ": 'acc_sum' must be f32 [",
              o.bins, "] (--bins), got ", a.dtype(), " ", a.shape());
    state.acc_sum = a.to_vector<float>();
  }

  std::vector<std::int64_t> step_rows{0};
  for (const Step& s : steps) step_rows.push_back(step_rows.back() + s.pred.size(0));
  const bool batch = o.scope == "batch";
  const std::vector<Step> calls = batch ? std::vector<Step>{concat_steps(steps)} : steps;

  std::vector<float> losses;
  std::vector<Tensor> grads, weights;
  std::vector<std::pair<std::string, Tensor>> out;
  for (std::size_t c = 0; c < calls.size(); ++c) {
    const Step& host_step = calls[c];
    const Step st = on_device(host_step);
    const std::string k = std::to_string(c);
    if (ghm) {
      losses::GhmResult r =
          o.kind == "ghmc"
              ? losses::ghm_c_forward(st.pred, st.target, st.label_weight, {o.bins, o.momentum, o.loss_weight}, state,
                                      {}, losses::ElementWeights::Keep)
              : losses::ghm_r_forward(st.pred, st.target, st.label_weight, {o.mu, o.bins, o.momentum, o.loss_weight},
                                      state, {}, losses::ElementWeights::Keep);
      losses.push_back(static_cast<float>(r.total));
      grads.push_back(on_host(r.grad));
      weights.push_back(on_host(r.element_weight));
      const losses::GhmCallStats& s = r.calls.front();
      out.emplace_back("num_in_bin." + k, Tensor::from_vector(s.num_in_bin, Shape{o.bins}));
      out.emplace_back("acc_sum." + k, s.acc_sum.empty() ? Tensor::zeros(Shape{o.bins})
                                                         : Tensor::from_vector(s.acc_sum, Shape{o.bins}));
      continue;
    }
    if (o.kind == "ghmc-exact") {
      GHM_CHECK(o.bins >= 1, "loss: --bins must be >= 1 for ghmc-exact (eps = 1 / bins), got ", o.bins);
      const losses::GhmResult r = losses::ghm_c_exact_forward(st.pred, st.target, st.label_weight,
                                                              {1.0 / o.bins, o.loss_weight}, {},
                                                              losses::ElementWeights::Keep);
      losses.push_back(static_cast<float>(r.total));
      grads.push_back(r.grad);
      weights.push_back(r.element_weight);
      continue;
    }
    Tensor pred = st.pred.detach().clone();
    pred.set_requires_grad(true);
    const double avg = default_avg_factor(o, host_step);
    const Tensor loss = [&] {
      if (o.kind == "bce") return losses::bce_with_logits_loss(pred, st.target, st.label_weight, avg, o.loss_weight);
      if (o.kind == "focal")
        return losses::sigmoid_focal_loss(pred, st.target, st.label_weight, avg, o.alpha, o.gamma, o.loss_weight);
      if (o.kind == "sl1") return losses::smooth_l1_loss(pred, st.target, st.label_weight, avg, o.beta, o.loss_weight);
      return losses::asl1_loss(pred, st.target, st.label_weight, avg, o.mu, o.loss_weight);
    }();
    losses.push_back(loss.item());
    loss.backward();  // the fused op hands back its stored gradient
    grads.push_back(on_host(pred.grad()));
  }

  // Split batch-scope results back into the steps.
  for (std::size_t k = 0; k < steps.size(); ++k) {
    const std::int64_t r0 = step_rows[k], rows = step_rows[k + 1] - r0;
    auto part = [&](const Tensor& t) { return batch ? narrow(t, 0, r0, rows) : t; };
    const std::size_t src = batch ? 0 : k;
    out.emplace_back("grad." + std::to_string(k), part(grads[src]));
    if (!weights.empty()) out.emplace_back("weights." + std::to_string(k), part(weights[src]));
  }
  out.emplace(out.begin(), "loss", Tensor::from_vector(losses, Shape{static_cast<std::int64_t>(losses.size())}));
  io::save_safetensors(o.out, out, {{"kind", o.kind}, {"scope", o.scope}});
  for (std::size_t i = 0; i < losses.size(); ++i) std::printf("loss[%zu] = %.9g\n", i, static_cast<double>(losses[i]));
  return 0;
}

}  // namespace ghm::app
