// `ghm_retinanet eval`: inference over the validation split, the COCO results file, and the twelve
// COCO numbers with per-class AP.
#include <cstdio>

#include "engine/checkpoint.h"
#include "core/cpu/large_block_cache.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "engine/inference.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine
namespace {

const char* kUsage =
    "usage: ghm_retinanet eval --config CFG.yaml --checkpoint CKPT.safetensors|WORK_DIR [--out DETS.json]\n"
    "                          [--set key=value]... [--json STATS.json] [--device cpu|cuda[:I]]\n"
    "\n"
    "  Runs the model over data.val_json / data.val_images and prints pycocotools' twelve numbers and\n"
    "  the AP of each class. --out writes the detections as a COCO results file; --json writes\n"
    "  {\"stats\": [the twelve numbers], \"per_class\": {name: AP}}.\n";

}  // namespace

int run_eval(const std::vector<std::string>& args) {
  std::string config_path, checkpoint, out, json_out, device = "cpu";
  std::vector<std::string> overrides;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (i + 1 >= args.size()) throw UsageError("eval: option '" + a + "' needs a value (or is unknown)");
    const std::string& v = args[++i];
    if (a == "--config") config_path = v;
    else if (a == "--checkpoint") checkpoint = v;
    else if (a == "--out") out = v;
    else if (a == "--json") json_out = v;
    else if (a == "--device") device = v;
    else if (a == "--set") overrides.push_back(v);
    else throw UsageError("eval: unknown option '" + a + "'");
  }
  if (config_path.empty() || checkpoint.empty()) throw UsageError("eval: --config and --checkpoint are required");

  const io::Json config = load_config(config_path, overrides);
  const DataConfig data = data_config(config);
  const detection::RetinaNetConfig model_cfg = retinanet_config(config);
  const DetectionSource val(load_split(data.val_json, data, Split::Test), data.val_images, data, Split::Test);
  GHM_CHECK(val.dataset().num_classes() == model_cfg.num_classes, data.val_json, " has ", val.dataset().num_classes(),
            " categories but model.head.num_classes is ", model_cfg.num_classes);
  Generator gen(0);
  detection::RetinaNet model(model_cfg, gen);
  load_model_weights(resolve_checkpoint(checkpoint), model, nn::Strict::Yes);
  model.to(parse_device(device, "eval --device"));
  cpu::enable_host_cache_for_inference();

  const EvalReport r = evaluate_split(model, detection::AnchorGenerator(anchor_config(config)), val, data.val_json, test_config(config), data);
  if (!out.empty()) write_results_json(out, r.results);
  std::printf("%lld images, %zu detections, %.1f images/s\n", static_cast<long long>(val.size()), r.results.size(),
              r.images_per_second);
  std::printf("%s%s", r.summary.c_str(), r.per_class.c_str());
  if (!json_out.empty()) write_eval_json(json_out, r, val.dataset());
  return 0;
}

}  // namespace ghm::app
