// `ghm_retinanet coco-eval`: COCO bounding-box evaluation of a results file against a ground
// truth, with pycocotools' semantics and output (coco/eval.h), without Python.
//
// Prints COCOeval.summarize()'s 12 lines to stdout (and, with --per-class, each category's
// AP@[.50:.95]); warnings about the inputs go to stderr, one line per kind with its count.
// --json writes {"stats": [12 numbers], "ap_per_iou": [AP at IoU 0.50, 0.55, ..., 0.95],
// "per_class": {"<category id>": {"name": ..., "ap": ...}}} (per_class only with --per-class; -1 marks
// a category without ground truth, as pycocotools).
#include <cstdio>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "core/check.h"
#include "coco/eval.h"
#include "io/json.h"
#include "io/output_file.h"

namespace ghm::app {
namespace {

void write_json(const std::string& path, const coco::GroundTruth& gt, const coco::EvalResult& r,
                bool per_class) {
  io::Json stats = io::Json::array();
  for (const double v : r.stats) stats.push_back(v);
  io::Json per_iou = io::Json::array();
  for (const double v : r.ap_per_iou) per_iou.push_back(v);
  io::Json doc = io::Json::object().set("stats", std::move(stats)).set("ap_per_iou", std::move(per_iou));
  if (per_class) {
    io::Json classes = io::Json::object();
    for (std::size_t k = 0; k < gt.categories.size(); ++k)
      classes.set(std::to_string(gt.categories[k].id),
                  io::Json::object().set("name", gt.categories[k].name).set("ap", r.per_class_ap[k]));
    doc.set("per_class", std::move(classes));
  }
  io::write_output(path, doc.dump() + "\n");
}

}  // namespace

int run_coco_eval(const std::vector<std::string>& args) {
  const auto app = cli::make_command("coco-eval", "COCO box AP of a results file against ground truth");
  std::string gt_path, dt_path, json_out;
  bool per_class = false;
  app->add_option("--gt", gt_path, "COCO instances file (images, annotations, categories)")
      ->type_name("GT.json")
      ->required();
  app->add_option("--dt", dt_path,
                  "COCO results file: [{\"image_id\", \"category_id\", \"bbox\": [x, y, w, h], \"score\"}, ...]")
      ->type_name("DT.json")
      ->required();
  app->add_option("--json", json_out,
                  "also write {\"stats\": [12 numbers], \"ap_per_iou\": [10]} (and \"per_class\") to this file")
      ->type_name("OUT.json");
  app->add_flag("--per-class", per_class, "print (and write) AP@[.50:.95] of every category");
  app->footer("Evaluates bounding boxes exactly as pycocotools' COCOeval (iouType='bbox') and prints its 12 lines.");
  if (!cli::parse(*app, args)) return 0;
  const coco::GroundTruth gt = coco::load_ground_truth(gt_path);
  const coco::Detections dt = coco::load_detections(dt_path, gt);
  for (const auto* warnings : {&gt.warnings, &dt.warnings})
    for (const std::string& w : *warnings) std::fprintf(stderr, "ghm_retinanet coco-eval: warning: %s\n", w.c_str());
  const coco::EvalResult r = coco::evaluate_bbox(gt, dt);
  std::printf("%s", coco::format_summary(r.stats).c_str());
  if (per_class) std::printf("%s", coco::format_per_class(gt, r).c_str());
  if (!json_out.empty()) write_json(json_out, gt, r, per_class);
  return 0;
}

}  // namespace ghm::app
