// `ghm_retinanet pretrain`: train a config's backbone as a classifier of synthetic images, and
// write its weights for a detector to start from (the run is engine/pretrain.h).
#include <cstdio>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "engine/pretrain.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine

int run_pretrain(const std::vector<std::string>& args) {
  const auto app = cli::make_command(
      "pretrain", "train model.backbone of a config as a classifier of synthetic images (the pretrain section), "
                  "and write backbone.safetensors for train.init_weights");
  std::string config_path;
  std::vector<std::string> overrides;
  PretrainOptions options;
  cli::add_config(*app, config_path);
  cli::add_overrides(*app, overrides);
  app->add_option("--work-dir", options.work_dir,
                  "where config.json, log.jsonl, eval.jsonl, classifier.safetensors and backbone.safetensors go")
      ->required()
      ->type_name("DIR");
  app->add_flag("--overwrite", options.overwrite,
                "delete an earlier pretraining run's files in the work directory first; other files stay");
  app->add_flag("--reuse", options.reuse,
                "keep a finished run of the same resolved config in the work directory instead of training again "
                "(with --overwrite, a run of another config there is replaced)");
  if (!cli::parse(*app, args)) return 0;
  const PretrainOutcome outcome = pretrain_backbone(load_config(config_path, overrides), options);
  std::printf("pretraining %s: %lld iterations, held-out accuracy %.4f, %s\n", outcome.reused ? "reused" : "finished",
              static_cast<long long>(outcome.iterations), outcome.val_accuracy, outcome.backbone_path.c_str());
  return 0;
}

}  // namespace ghm::app
