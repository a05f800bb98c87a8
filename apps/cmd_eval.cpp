// `ghm_retinanet eval`: inference over the validation split, the COCO results file, and the twelve
// COCO numbers with per-class AP.
#include <omp.h>

#include <cstdio>

#include "engine/checkpoint.h"
#include "core/cpu/large_block_cache.h"
#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "engine/distributed.h"
#include "engine/inference.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine

int run_eval(const std::vector<std::string>& args) {
  const auto app = cli::make_command("eval", "COCO evaluation of a checkpoint on the validation split");
  std::string config_path, checkpoint, out, json_out, device = "cpu";
  std::vector<std::string> overrides;
  cli::add_config(*app, config_path);
  cli::add_checkpoint(*app, checkpoint);
  app->add_option("--out", out, "also write the detections as a COCO results file")->type_name("DETS.json");
  app->add_option("--json", json_out,
                  "also write {\"stats\": [the twelve numbers], \"ap_per_iou\": [AP at IoU 0.50, 0.55, ..., 0.95], "
                  "\"per_class\": {name: AP}}")
      ->type_name("STATS.json");
  cli::add_overrides(*app, overrides);
  cli::add_precision(*app, overrides, "test.precision");
  cli::add_device(*app, device);
  app->footer("Runs the model over data.val_json / data.val_images and prints pycocotools' twelve numbers and the\n"
              "AP of each class. Under mpirun or srun each process runs a shard of the images and the first\n"
              "scores them all (docs/distributed.md).");
  if (!cli::parse(*app, args)) return 0;

  dist::Communicator& comm = dist::world();  // first: a failure below ends every process of a job
  const io::Json config = load_config(config_path, overrides);
  const TestConfig test = test_config(config);
  const Device on = process_device(device, "eval --device", comm);
  check_precision(test.precision, on, "test.precision");
  const DataConfig data = data_config(config);
  const DetectionSource val(load_split(data.val_json, data, Split::Test), data.val_images, data, Split::Test);
  Generator gen(0);
  const std::unique_ptr<Detector> detector = make_detector(config, gen);
  GHM_CHECK(val.dataset().num_classes() == detector->num_classes(), data.val_json, " has ",
            val.dataset().num_classes(), " categories but model.head.num_classes is ", detector->num_classes());
  nn::Module& model = detector->module();
  load_model_weights(resolve_checkpoint(checkpoint), model, nn::Strict::Yes);
  model.to(on);
  if (comm.size() > 1) omp_set_num_threads(process_threads(omp_get_num_procs(), comm.local_size()));
  cpu::enable_host_cache_for_inference();

  // Every rank runs its shard; rank 0 scores the whole split and writes.
  const std::optional<EvalReport> report =
      evaluate_split(*detector, val, data.val_json, test, data, comm);
  if (!report) return 0;
  const EvalReport& r = *report;
  if (!out.empty()) write_results_json(out, r.results);
  std::printf("%lld images, %zu detections, %.1f images/s\n", static_cast<long long>(val.size()), r.results.size(),
              r.images_per_second);
  std::printf("%s", r.summary.c_str());
  std::printf(" AP at IoU 0.50:0.05:0.95 (area all, maxDets 100):");
  for (const double ap : r.coco.ap_per_iou) std::printf(" %.3f", ap);
  std::printf("\n%s", r.per_class.c_str());
  if (!json_out.empty()) write_eval_json(json_out, r, val.dataset());
  return 0;
}

}  // namespace ghm::app
