// ghm_retinanet: one binary, several sub-commands (as darknet's `detector train/test/valid`).
//
//   ghm_retinanet --version | --help | <command> [options]
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/check.h"
#include "dist/communicator.h"
#include "dist/launch.h"

namespace {

using ghm::app::Command;

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"analyze-gradients", "gradient-norm distributions of a checkpoint (the GHM paper's Fig. 2-4: CSV + PNG)",
       ghm::app::run_analyze_gradients},
      {"bench", "benchmarks: `bench ops`, `loss`, `coco-load`, `loader`, `train` (training step / inference + profile), "
                "`elementwise`, `parse`",
       ghm::app::run_bench},
      {"coco-eval", "COCO box AP of a results file against ground truth (pycocotools' twelve numbers)",
       ghm::app::run_coco_eval},
      {"detect", "draw a trained model's detections on images (JPEG + JSON per image)", ghm::app::run_detect},
      {"eval", "COCO evaluation of a checkpoint on the validation split (twelve numbers, per-class AP)",
       ghm::app::run_eval},
      {"forward", "run the model (evaluation mode) on an image tensor: FPN and head outputs per level",
       ghm::app::run_forward},
      {"loss", "run a loss (GHM-C, GHM-R, baselines) on tensors from a file: loss, gradient, bin stats",
       ghm::app::run_loss},
      {"make-shapes", "write the synthetic shapes detection dataset (COCO JSON + JPEG images)",
       ghm::app::run_make_shapes},
      {"plot", "draw a training log's loss and learning-rate curves as a PNG", ghm::app::run_plot},
      {"pretrain", "train a config's backbone as a classifier of synthetic images; writes backbone weights for train.init_weights",
       ghm::app::run_pretrain},
      {"train", "train a detector (model.type: RetinaNet or Faster R-CNN) from a config (work dir: log.jsonl, checkpoints; --resume or --overwrite)", ghm::app::run_train},
  };
  return list;
}

void print_help() {
  std::printf(
      "usage: ghm_retinanet <command> [options]\n"
      "       ghm_retinanet --version | --help\n\n"
      "RetinaNet and Faster R-CNN with the gradient harmonized losses GHM-C and GHM-R.\n\ncommands:\n");
  for (const Command& c : commands()) std::printf("  %-18s %s\n", c.name, c.summary);
  std::printf("\n`ghm_retinanet <command> --help` describes a command's options.\n");
}

// The command's exit code, or 1 when what it printed could not all be written: a full disk or a
// closed pipe behind standard output must not look like success.
int finish(int code) {
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return code;
  std::fprintf(stderr, "ghm_retinanet: error: cannot write to standard output: %s\n", std::strerror(errno));
  return code == 0 ? 1 : code;
}

int run(const std::vector<std::string>& args, std::string& help) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    ghm::app::print_version();
    return 0;
  }
  for (const Command& c : commands()) {
    if (args[0] != c.name) continue;
    help = "ghm_retinanet " + args[0] + " --help";
    // Only train and eval divide their work among the processes of a job; N copies of another
    // command would each do all of it and write the same files.
    if (const auto launch = ghm::dist::detect_launch(); launch && launch->world_size > 1 && args[0] != "train" &&
                                                         args[0] != "eval")
      throw ghm::app::UsageError("'" + args[0] + "' runs as one process, but a launcher started " +
                                 std::to_string(launch->world_size) + " (" + launch->size_variable +
                                 "); only train and eval run data-parallel");
    return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (args[0].starts_with("-")) throw ghm::app::UsageError("unknown option '" + args[0] + "'");
  throw ghm::app::UsageError("unknown command '" + args[0] + "'");
}

}  // namespace

int main(int argc, char** argv) {
  // A write past the file-size limit or into a closed pipe fails with EFBIG or EPIPE and is
  // reported by the writer (io/output_file.h), instead of killing the process without a word.
  std::signal(SIGXFSZ, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  std::string help = "ghm_retinanet --help";  // where a usage error points
  try {
    return finish(run(args, help));
  } catch (const ghm::app::UsageError& e) {
    std::fprintf(stderr, "ghm_retinanet: %s (see %s)\n", e.what(), help.c_str());
    return finish(2);
  } catch (const std::exception& e) {
    // In a job of several processes the message names the rank, and the job ends here: the other
    // ranks may be waiting for this one in a collective.
    std::fprintf(stderr, "ghm_retinanet: error: %s%s\n", ghm::dist::rank_prefix().c_str(), e.what());
    ghm::dist::end_job(1);
    return finish(1);
  }
}
