// COCO bounding-box evaluation with pycocotools' exact semantics (COCOeval, iouType='bbox').
//
//   const GroundTruth gt = load_ground_truth("instances_val2017.json");
//   const Detections dt = load_detections("results.json", gt);
//   for (const std::string& w : dt.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
//   const EvalResult r = evaluate_bbox(gt, dt);
//   std::printf("%s", format_summary(r.stats).c_str());   // pycocotools' 12 lines
//
// What "exact" covers (each item is what pycocotools 2.0 does, quirks included):
//  * Parameters: IoU thresholds np.linspace(.5, .95, 10), recall thresholds np.linspace(0, 1, 101),
//    maxDets 1/10/100, area ranges all [0, 1e10], small [0, 32²], medium [32², 96²],
//    large [96², 1e10], bounds inclusive. Ground truth is binned by its `area` field, a detection
//    by w*h of its box. Images are all of the ground truth's `images`, categories all of its
//    `categories`, both in ascending id order.
//  * Loading (COCO.loadRes): detection ids are 1..N in file order, crowd 0. A detection on an
//    image id the ground truth lacks is an error, and so is an empty results array (loadRes
//    fails on it too). Detections and annotations whose category id is not a ground-truth
//    category are never evaluated: we drop them with a warning. Detections with a non-positive
//    width or height are kept with a warning: their IoU is 0, so they count as false positives
//    wherever their area w*h is in range, as in pycocotools. Stricter than pycocotools: NaN or
//    Infinity (not JSON; the error names the detection), repeated image, category or annotation
//    ids (over the whole file), a bbox of other than 4 numbers, and a field of the instances
//    file with the wrong type (instances.h lists them; e.g. a width that is not an integer,
//    which pycocotools never reads) are errors.
//  * Per image and category (evaluateImg): a ground-truth box is ignored when crowd (iscrowd != 0)
//    or its area is outside the range; the `ignore` key of an annotation has no effect, because
//    COCOeval._prepare overwrites it with iscrowd (we warn when it is set on a non-crowd box).
//    Ground truth is stably sorted with the ignored last, detections stably by descending score
//    and cut to 100. IoU as maskApi.c's bbIou in double, no fused multiply-add; against a crowd
//    box IoU = intersection / detection area. Greedy matching per IoU threshold t: a detection
//    takes the unmatched (or crowd) box of highest IoU >= min(t, 1 - 1e-10), stopping at the
//    first ignored box once it holds a non-ignored one. A match to a ground-truth box with id 0
//    counts as no match (pycocotools tests the stored id for truth). Unmatched detections outside
//    the area range are ignored. Matching always uses the top 100; maxDets 1 and 10 only cut
//    the evaluated lists.
//  * Accumulation (accumulate): per category, area range and maxDets, the images' lists are
//    concatenated in image order and stably sorted by descending score; precision is made
//    monotone from the right and sampled at the first index whose recall reaches each recall
//    threshold (0 past the end). -1 where a category has no non-ignored ground truth.
//  * summarize: the mean of the entries > -1 (or -1 when there is none), summed in numpy's
//    order (blocks of 8192, pairwise within), pycocotools' 12 numbers in its order. Per-class AP
//    is the same mean over one category's precision (area all, maxDets 100).
// On the fixtures (tests/data/cocoeval_*) and the 365k-detection benchmark every number agrees
// with pycocotools 2.0.11 / numpy 1.24 to the last bit; the contract is 1e-6.
//
// Reading: ground truth is the evaluation view of the one instances-file parse that training uses
// too (instances.h: the JSON rules, field types, unique ids and error positions); this view needs
// `area` and `iscrowd` in every annotation and reads iscrowd as pycocotools tests it (nonzero
// means crowd). Results files are read by a streaming scanner over the same JSON rules. Errors
// name the file, the element and line:column.
//
// Speed: both files are scanned once, without a JSON tree, so reading the ground truth costs
// what the training reader costs (docs/performance.md). Boxes are grouped by image with a counting
// sort, IoU is computed only within an (image, category) group, and images are evaluated in
// parallel into preallocated slots, so the result does not depend on the thread count.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coco/dataset.h"  // Category

namespace ghm::coco {

struct Xywh {
  double x = 0, y = 0, w = 0, h = 0;  // COCO's [x, y, width, height]
};

struct Annotation {
  std::int64_t id = 0;
  std::int32_t image = 0;     // index into GroundTruth::image_ids
  std::int32_t category = 0;  // index into GroundTruth::categories
  Xywh box;
  double area = 0;  // the annotation's `area` field (a segment's area), which decides its range
  bool crowd = false;
};

struct GroundTruth {
  std::string source;                      // the file, for messages
  std::vector<std::int64_t> image_ids;     // ascending, unique
  std::vector<Category> categories;    // ascending id, unique
  std::vector<Annotation> annotations; // in file order, those of known images and categories
  std::vector<std::string> warnings;       // one line per kind of problem, with its count
};

struct Detection {
  std::int32_t image = 0;     // index into GroundTruth::image_ids
  std::int32_t category = 0;  // index into GroundTruth::categories
  Xywh box;
  double score = 0;
};

struct Detections {
  std::string source;
  std::vector<Detection> detections;  // in file order, dropped ones removed
  std::vector<std::string> warnings;      // one line per kind of problem, with its count
};

// Read a COCO instances file (`images`, `annotations` with id, image_id, category_id, bbox, area,
// iscrowd; `categories` with id and optional name). Errors name the file and the value's path.
GroundTruth load_ground_truth(const std::string& path);
GroundTruth parse_ground_truth(std::string_view text, const std::string& source);

// Read a COCO results file: a non-empty array of {image_id, category_id, bbox, score}.
Detections load_detections(const std::string& path, const GroundTruth& gt);
Detections parse_detections(std::string_view text, const std::string& source, const GroundTruth& gt);

// pycocotools' parameters (T, R, A, M) and their values.
constexpr int kNumIouThresholds = 10;
constexpr int kNumRecallThresholds = 101;
constexpr int kNumAreaRanges = 4;  // all, small, medium, large
constexpr int kNumMaxDets = 3;     // 1, 10, 100
extern const std::array<double, kNumIouThresholds> kIouThresholdValues;
extern const std::array<int, kNumMaxDets> kMaxDetsValues;

struct EvalResult {
  std::array<double, 12> stats{};  // COCOeval.stats: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl
  std::vector<double> per_class_ap;  // [K] in GroundTruth::categories order: AP@[.50:.95], all, 100; -1: no gt
  // [T] AP at each IoU threshold (area all, maxDets 100): _summarize(1, iouThr=t), -1 without any gt.
  // ap_per_iou[0] and [5] are stats[1] and stats[2]; the paper's Table 6 reads [0], [2], ..., [8].
  std::array<double, kNumIouThresholds> ap_per_iou{};
  std::vector<double> precision;     // [T, R, K, A, M], as COCOeval.eval['precision']
  std::vector<double> recall;        // [T, K, A, M], as COCOeval.eval['recall']
};

EvalResult evaluate_bbox(const GroundTruth& gt, const Detections& dt);

// The 12 lines COCOeval.summarize() prints, each ending in '\n'.
std::string format_summary(const std::array<double, 12>& stats);
// One line per category: id, name and AP@[.50:.95] (area all, maxDets 100), after a title line.
std::string format_per_class(const GroundTruth& gt, const EvalResult& result);

}  // namespace ghm::coco
