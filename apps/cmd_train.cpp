// `ghm_retinanet train`: train a detector (model.type) from a config (the loop is engine/trainer.h).
#include <cstdio>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "engine/trainer.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine
namespace {

std::string config_stem(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  const auto app = cli::make_command("train", "train a detector (model.type: RetinaNet or Faster R-CNN) from a config");
  std::string config_path, work_dir;
  std::vector<std::string> overrides;
  TrainOptions options;
  cli::add_config(*app, config_path);
  cli::add_overrides(*app, overrides);
  app->add_option("--work-dir", work_dir, "where config.json, log.jsonl and the checkpoints go "
                                          "(default: work_dirs/<config name>)")
      ->type_name("DIR");
  CLI::Option* resume =
      app->add_flag("--resume", options.resume, "continue from the newest checkpoint in the work directory");
  app->add_flag("--overwrite", options.overwrite,
                "delete the earlier run's files in the work directory (config.json, log.jsonl, eval.jsonl, "
                "checkpoints) and start anew; other files stay")
      ->excludes(resume);
  app->footer("Ctrl-C (SIGINT), SIGTERM or SIGUSR1 finishes the current iteration, writes a checkpoint and exits with\n"
              "128 + the signal (130, 143, 138). Under mpirun send SIGUSR1 to mpirun: it passes that one on to\n"
              "every process (docs/distributed.md).");
  if (!cli::parse(*app, args)) return 0;
  options.work_dir = work_dir.empty() ? "work_dirs/" + config_stem(config_path) : work_dir;
  const TrainOutcome outcome = train_detector(load_config(config_path, overrides), options);
  if (outcome.stop_signal != 0) return 128 + outcome.stop_signal;
  std::printf("training finished: %lld iterations, last checkpoint %s\n", static_cast<long long>(outcome.iterations),
              outcome.last_checkpoint.c_str());
  return 0;
}

}  // namespace ghm::app
