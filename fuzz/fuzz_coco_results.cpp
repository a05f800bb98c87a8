// Fuzz target: a COCO results file (coco::parse_detections, coco/eval.h) read against a fixed
// small ground truth (two images, two categories, a crowd box, boxes in each area range), then
// coco::evaluate_bbox on the detections it accepted. Properties (coco_properties.h): every
// detection's image and category index in range; every statistic -1 or within [0, 1].
#include <string_view>

#include "coco/eval.h"
#include "fuzz/coco_properties.h"
#include "fuzz/targets.h"

namespace ghm::fuzz {
namespace {

constexpr std::string_view kGroundTruth = R"({
 "images": [{"id": 1, "width": 640, "height": 480}, {"id": 2, "width": 320, "height": 240}],
 "categories": [{"id": 1, "name": "a"}, {"id": 3, "name": "b"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
  {"id": 2, "image_id": 1, "category_id": 3, "bbox": [100, 50, 60, 80], "area": 4000, "iscrowd": 0},
  {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 300, 200], "area": 60000, "iscrowd": 1},
  {"id": 4, "image_id": 2, "category_id": 3, "bbox": [5.5, 7.25, 150, 120], "area": 18000, "iscrowd": 0}
 ]})";

const coco::GroundTruth& ground_truth() {
  static const coco::GroundTruth gt = coco::parse_ground_truth(kGroundTruth, "fixed ground truth");
  return gt;
}

}  // namespace

int fuzz_coco_results(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const coco::GroundTruth& gt = ground_truth();
  return reject_quietly([&] {
    const coco::Detections dt = coco::parse_detections(text, "fuzz input", gt);
    require_consistent(dt, gt);
    require_consistent(coco::evaluate_bbox(gt, dt), gt);
  });
}

}  // namespace ghm::fuzz
