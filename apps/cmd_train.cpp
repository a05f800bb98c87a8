// `ghm_retinanet train`: train a RetinaNet from a config (the loop is engine/trainer.h).
#include <cstdio>

#include "apps/commands.h"
#include "engine/config.h"
#include "engine/trainer.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine
namespace {

const char* kUsage =
    "usage: ghm_retinanet train --config CFG.yaml [--set key=value]... [--work-dir DIR] [--resume]\n"
    "\n"
    "  --config    YAML config (docs/config.md); --set overrides one key, e.g. --set train.lr=0.005\n"
    "  --work-dir  where config.json, log.jsonl and the checkpoints go (default: work_dirs/<config name>)\n"
    "  --resume    continue from the newest checkpoint in the work directory\n"
    "Ctrl-C finishes the current iteration, writes a checkpoint and exits.\n";

std::string config_stem(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  std::string config_path, work_dir;
  std::vector<std::string> overrides;
  TrainOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (a == "--resume") {
      options.resume = true;
      continue;
    }
    if (i + 1 >= args.size()) throw UsageError("train: option '" + a + "' needs a value (or is unknown)");
    const std::string& v = args[++i];
    if (a == "--config") config_path = v;
    else if (a == "--set") overrides.push_back(v);
    else if (a == "--work-dir") work_dir = v;
    else throw UsageError("train: unknown option '" + a + "'");
  }
  if (config_path.empty()) throw UsageError("train: --config is required");
  options.work_dir = work_dir.empty() ? "work_dirs/" + config_stem(config_path) : work_dir;
  const TrainOutcome outcome = train_detector(load_config(config_path, overrides), options);
  if (outcome.interrupted) return 130;
  std::printf("training finished: %lld iterations, last checkpoint %s\n", static_cast<long long>(outcome.iterations),
              outcome.last_checkpoint.c_str());
  return 0;
}

}  // namespace ghm::app
