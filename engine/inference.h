// Inference over a whole split with either detector (engine/detector.h: evaluation mode, no
// autograd), and the COCO side: results JSON and the twelve COCO numbers computed in-process
// (coco/eval.h, the same code as `coco-eval`).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/detection_data.h"
#include "detection/anchors.h"
#include "coco/eval.h"
#include "detection/retinanet/postprocess.h"
#include "engine/detector.h"
#include "dist/communicator.h"
#include "io/data_loader.h"

namespace ghm::engine {

// One detection in COCO's terms.
struct CocoResult {
  std::int64_t image_id = 0;
  std::int64_t category_id = 0;
  float x = 0, y = 0, w = 0, h = 0;
  float score = 0;
};

// Appends one image's detections, labels mapped back to the dataset's category ids.
void append_image_results(std::int64_t image_id, const detection::ImageDetections& detections,
                          const coco::Dataset& dataset, std::vector<CocoResult>& out);

// Appends a batch's detections, labels mapped back to the dataset's category ids.
void append_results(const io::Batch& batch, const std::vector<detection::ImageDetections>& detections,
                    const coco::Dataset& dataset, std::vector<CocoResult>& out);

// The COCO results file ([{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]),
// written to a temporary file and renamed.
void write_results_json(const std::string& path, const std::vector<CocoResult>& results);

struct EvalReport {
  ghm::coco::EvalResult coco;  // "ghm::" because inside EvalReport a plain "coco" names this member
  std::string summary;    // pycocotools' twelve lines
  std::string per_class;  // per-class AP table
  std::vector<CocoResult> results;
  double seconds = 0;
  double images_per_second = 0;
};

// Runs the model over the whole split (with the test-time augmentation test asks for,
// test_time_augmentation.h) and scores it against `gt_json` (the split's own file).
// In a job of several processes every rank calls it and runs its shard (distributed.h); the
// report, the same as one process would make, comes back on rank 0 only (nullopt elsewhere).
std::optional<EvalReport> evaluate_split(Detector& model, const DetectionSource& split, const std::string& gt_json,
                                         const TestConfig& test, const DataConfig& data,
                                         dist::Communicator& comm = dist::world());

// {"stats": [twelve numbers, pycocotools' order], "per_class": {"<category name>": AP, ...},
//  "ap_per_iou": [AP at IoU 0.50, 0.55, ..., 0.95]}
// (AP -1 for a category without ground truth), written atomically.
void write_eval_json(const std::string& path, const EvalReport& report, const coco::Dataset& dataset);

}  // namespace ghm::engine
