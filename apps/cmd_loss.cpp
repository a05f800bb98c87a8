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
#include <optional>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "core/autograd.h"
#include "core/ops/shape_ops.h"
#include "io/safetensors.h"
#include "losses/baselines.h"
#include "losses/ghm_c.h"
#include "losses/ghm_c_exact.h"
#include "losses/ghm_math.h"
#include "losses/ghm_r.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine
namespace {

struct Options {
  std::string kind, in, out, scope = "per_level", device = "cpu";
  int bins = 10;
  double momentum = 0.0, avg_factor = -1.0;  // avg_factor < 0: the kind's default
  float mu = 0.02f, loss_weight = 1.0f, alpha = 0.25f, gamma = 2.0f, beta = 1.0f / 9.0f;
};

// nullopt after --help.
std::optional<Options> parse(const std::vector<std::string>& args) {
  const auto app = cli::make_command("loss", "run a loss (GHM-C, GHM-R, baselines) on tensors from a file");
  Options o;
  app->add_option("--kind", o.kind, "the loss")
      ->required()
      ->check(CLI::IsMember({"ghmc", "ghmr", "ghmc-exact", "bce", "focal", "sl1", "asl1"}));
  app->add_option("--in", o.in, "pred, target, label_weight (or pred.0, ...; optional acc_sum)")
      ->type_name("IN.safetensors")
      ->required();
  app->add_option("--out", o.out, "loss, grad.k, and for GHM weights.k, num_in_bin.k, acc_sum.k")
      ->type_name("OUT.safetensors")
      ->required();
  app->add_option("--bins", o.bins, "GHM bins M (ghmc-exact: the window eps = 1 / M)")
      ->type_name("M")
      ->check(cli::integer_in(1, losses::kMaxGhmBins));
  app->add_option("--momentum", o.momentum, "GHM EMA momentum; 0: none")->check(cli::number_in(0, 0.999999));
  app->add_option("--mu", o.mu, "GHM-R and ASL1: sqrt(d^2 + mu^2) - mu")
      ->default_str("0.02")
      ->check(cli::positive_number());
  app->add_option("--loss-weight", o.loss_weight, "multiplies the loss")
      ->default_str("1")
      ->check(cli::number_in(0, 1e6));
  app->add_option("--alpha", o.alpha, "focal alpha")->default_str("0.25")->check(cli::number_in(0, 1));
  app->add_option("--gamma", o.gamma, "focal gamma")->default_str("2")->check(cli::number_in(0, 100));
  app->add_option("--beta", o.beta, "smooth L1 beta")->default_str("1/9")->check(cli::positive_number());
  app->add_option("--avg-factor", o.avg_factor, "the loss divisor (default: the kind's, from the weights and targets)")
      ->default_str("")
      ->check(cli::positive_number());
  app->add_option("--scope", o.scope, "GHM: one call per step through one EMA state, or all steps in one call")
      ->check(CLI::IsMember({"per_level", "batch"}));
  cli::add_device(*app, o.device);
  app->footer("--device cuda copies the inputs to the GPU, runs the loss there and copies the outputs back.");
  if (!cli::parse(*app, args)) return std::nullopt;
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

// The settings of --kind ghmc or ghmr; their errors name the options.
losses::GhmSettings ghm_settings(const Options& o) {
  const losses::GhmSettingNames flags{"--bins", "--momentum", "--loss-weight", "--mu"};
  return o.kind == "ghmc" ? losses::GhmSettings::classification(o.bins, o.momentum, o.loss_weight, flags)
                          : losses::GhmSettings::regression(o.mu, o.bins, o.momentum, o.loss_weight, flags);
}

// The EMA state the first GHM call starts from: empty, or the input's `acc_sum`.
losses::GhmEmaState initial_state(const io::SafetensorsData& in, const Options& o) {
  losses::GhmEmaState state(o.bins);
  if (!in.contains("acc_sum")) return state;
  GHM_CHECK((o.kind == "ghmc" || o.kind == "ghmr") && o.momentum > 0.0, o.in,
            ": 'acc_sum' (an EMA state) needs a GHM kind with --momentum > 0");
  const Tensor a = in.at("acc_sum");
  GHM_CHECK(a.dtype() == DType::F32 && a.dim() == 1 && a.size(0) == o.bins, o.in, ": 'acc_sum' must be f32 [", o.bins,
            "] (--bins), got ", a.dtype(), " ", a.shape());
  state.acc_sum = a.to_vector<float>();
  return state;
}

// bce, focal, sl1 or asl1 of `pred` (a leaf that collects the gradient) against the step's targets.
Tensor baseline_loss(const Options& o, const Tensor& pred, const Step& st, double avg) {
  if (o.kind == "bce") return losses::bce_with_logits_loss(pred, st.target, st.label_weight, avg, o.loss_weight);
  if (o.kind == "focal")
    return losses::sigmoid_focal_loss(pred, st.target, st.label_weight, avg, o.alpha, o.gamma, o.loss_weight);
  if (o.kind == "sl1") return losses::smooth_l1_loss(pred, st.target, st.label_weight, avg, o.beta, o.loss_weight);
  return losses::asl1_loss(pred, st.target, st.label_weight, avg, o.mu, o.loss_weight);
}

}  // namespace

int run_loss(const std::vector<std::string>& args) {
  const std::optional<Options> parsed = parse(args);
  if (!parsed) return 0;
  const Options& o = *parsed;
  // Fails with the reason when this build has no CUDA backend or the machine no such GPU.
  const Device device = parse_device(o.device, "loss --device");
  auto on_device = [&](const Step& s) {
    return Step{s.pred.to(device), s.target.to(device), s.label_weight.to(device)};
  };
  auto on_host = [](const Tensor& t) { return t.defined() ? t.detach().to(Device::cpu()) : t; };
  const io::SafetensorsData in = io::load_safetensors(o.in);
  std::vector<Step> steps = read_steps(in, o);
  const bool ghm = o.kind == "ghmc" || o.kind == "ghmr";
  losses::GhmEmaState state = initial_state(in, o);

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
              ? losses::ghm_c_forward(st.pred, st.target, st.label_weight, ghm_settings(o), state, {},
                                      losses::ElementWeights::Keep)
              : losses::ghm_r_forward(st.pred, st.target, st.label_weight, ghm_settings(o), state, {},
                                      losses::ElementWeights::Keep);
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
    const Tensor loss = baseline_loss(o, pred, st, default_avg_factor(o, host_step));
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
