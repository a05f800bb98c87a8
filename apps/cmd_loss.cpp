// `ghm_retinanet loss`: runs one of our losses on tensors from a safetensors file and writes the
// loss, the gradient and (for GHM) the weights, bin counts and EMA state (engine/loss_run.h holds
// the runner and the file layout).
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/loss_run.h"
#include "losses/ghm_math.h"

namespace ghm::app {

int run_loss(const std::vector<std::string>& args) {
  const auto app = cli::make_command("loss", "run a loss (GHM-C, GHM-R, baselines) on tensors from a file");
  engine::LossRunOptions o;
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
  if (!cli::parse(*app, args)) return 0;
  if (o.kind == "ghmc-exact" && o.device != "cpu")
    throw UsageError("loss: --kind ghmc-exact runs on the CPU only (--device cpu)");
  engine::run_loss_file(o);
  return 0;
}

}  // namespace ghm::app
