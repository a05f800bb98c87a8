// `ghm_retinanet coco-eval`: COCO bounding-box evaluation of a results file against a ground
// truth, with pycocotools' semantics and output (coco/eval.h), without Python.
//
// Prints COCOeval.summarize()'s 12 lines to stdout (and, with --per-class, each category's
// AP@[.50:.95]); warnings about the inputs go to stderr, one line per kind with its count.
// --json writes {"stats": [12 numbers], "per_class": {"<category id>": {"name": ..., "ap": ...}}}
// (per_class only with --per-class; -1 marks a category without ground truth, as pycocotools).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/check.h"
#include "coco/eval.h"
#include "io/json.h"

namespace ghm::app {
namespace {

const char* kUsage =
    "usage: ghm_retinanet coco-eval --gt GT.json --dt DT.json [--json OUT.json] [--per-class]\n"
    "  --gt         COCO instances file (images, annotations, categories)\n"
    "  --dt         COCO results file: [{\"image_id\", \"category_id\", \"bbox\": [x, y, w, h], \"score\"}, ...]\n"
    "  --json       also write {\"stats\": [12 numbers]} (and \"per_class\") to this file\n"
    "  --per-class  print (and write) AP@[.50:.95] of every category\n"
    "Evaluates bounding boxes exactly as pycocotools' COCOeval (iouType='bbox') and prints its 12 lines.\n";

struct Options {
  bool help = false, per_class = false;
  std::string gt, dt, json;
};

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help") {
      o.help = true;
      return o;
    }
    if (a == "--per-class") {
      o.per_class = true;
      continue;
    }
    if (i + 1 >= args.size()) throw UsageError("coco-eval: option '" + a + "' needs a value (or is unknown)");
    const std::string& v = args[++i];
    if (a == "--gt") o.gt = v;
    else if (a == "--dt") o.dt = v;
    else if (a == "--json") o.json = v;
    else throw UsageError("coco-eval: unknown option '" + a + "'");
  }
  if (o.gt.empty() || o.dt.empty()) throw UsageError("coco-eval: --gt and --dt are required");
  return o;
}

void write_json(const std::string& path, const detection::CocoGroundTruth& gt, const detection::CocoEvalResult& r,
                bool per_class) {
  io::Json stats = io::Json::array();
  for (const double v : r.stats) stats.push_back(v);
  io::Json doc = io::Json::object().set("stats", std::move(stats));
  if (per_class) {
    io::Json classes = io::Json::object();
    for (std::size_t k = 0; k < gt.categories.size(); ++k)
      classes.set(std::to_string(gt.categories[k].id),
                  io::Json::object().set("name", gt.categories[k].name).set("ap", r.per_class_ap[k]));
    doc.set("per_class", std::move(classes));
  }
  std::ofstream out(path, std::ios::binary);
  GHM_CHECK(out.good(), "coco-eval: cannot write '", path, "'");
  out << doc.dump() << '\n';
  out.close();
  GHM_CHECK(out.good(), "coco-eval: error while writing '", path, "'");
}

}  // namespace

int run_coco_eval(const std::vector<std::string>& args) {
  const Options o = parse(args);
  if (o.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  const detection::CocoGroundTruth gt = detection::load_coco_ground_truth(o.gt);
  const detection::CocoDetections dt = detection::load_coco_detections(o.dt, gt);
  for (const auto* warnings : {&gt.warnings, &dt.warnings})
    for (const std::string& w : *warnings) std::fprintf(stderr, "ghm_retinanet coco-eval: warning: %s\n", w.c_str());
  const detection::CocoEvalResult r = detection::evaluate_coco_bbox(gt, dt);
  std::printf("%s", detection::format_coco_summary(r.stats).c_str());
  if (o.per_class) std::printf("%s", detection::format_coco_per_class(gt, r).c_str());
  if (!o.json.empty()) write_json(o.json, gt, r, o.per_class);
  return 0;
}

}  // namespace ghm::app
