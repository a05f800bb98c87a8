// The COCO properties of coco_properties.h.
#include "fuzz/coco_properties.h"

#include <cstddef>

#include "fuzz/targets.h"

namespace ghm::fuzz {
namespace {

void require_categories(const std::vector<coco::Category>& categories) {
  for (std::size_t l = 0; l < categories.size(); ++l) {
    GHM_FUZZ_REQUIRE(categories[l].label == static_cast<std::int32_t>(l), "a category's label is not its index");
    GHM_FUZZ_REQUIRE(l == 0 || categories[l - 1].id < categories[l].id, "categories not in ascending id order");
  }
}

bool index_in(std::int32_t index, std::size_t size) {
  return index >= 0 && static_cast<std::size_t>(index) < size;
}

bool ap_in_range(double ap) { return ap == -1.0 || (ap >= 0.0 && ap <= 1.0); }

}  // namespace

void require_consistent(const coco::GroundTruth& gt) {
  for (std::size_t i = 1; i < gt.image_ids.size(); ++i)
    GHM_FUZZ_REQUIRE(gt.image_ids[i - 1] < gt.image_ids[i], "ground-truth image ids not ascending and unique");
  require_categories(gt.categories);
  for (const coco::Annotation& a : gt.annotations) {
    GHM_FUZZ_REQUIRE(index_in(a.image, gt.image_ids.size()), "an annotation's image index is out of range");
    GHM_FUZZ_REQUIRE(index_in(a.category, gt.categories.size()), "an annotation's category index is out of range");
  }
}

void require_consistent(const coco::Dataset& data) {
  require_categories(data.categories);
  std::size_t next_box = 0;
  for (const coco::ImageRecord& image : data.images) {
    GHM_FUZZ_REQUIRE(image.first_box == next_box, "an image's boxes do not follow the previous image's");
    next_box += image.num_boxes;
    GHM_FUZZ_REQUIRE(next_box <= data.boxes.size(), "an image's boxes run past the box array");
    GHM_FUZZ_REQUIRE(image.width > 0 && image.height > 0, "a training image without a positive size");
  }
  GHM_FUZZ_REQUIRE(next_box == data.boxes.size(), "boxes that belong to no image");
  for (const coco::BoxRecord& box : data.boxes)
    GHM_FUZZ_REQUIRE(index_in(box.label, data.categories.size()), "a box's label is out of range");
}

void require_consistent(const coco::Detections& dt, const coco::GroundTruth& gt) {
  for (const coco::Detection& d : dt.detections) {
    GHM_FUZZ_REQUIRE(index_in(d.image, gt.image_ids.size()), "a detection's image index is out of range");
    GHM_FUZZ_REQUIRE(index_in(d.category, gt.categories.size()), "a detection's category index is out of range");
  }
}

void require_consistent(const coco::EvalResult& result, const coco::GroundTruth& gt) {
  for (const double stat : result.stats)
    GHM_FUZZ_REQUIRE(ap_in_range(stat), "a COCO statistic outside [0, 1] and not -1");
  GHM_FUZZ_REQUIRE(result.per_class_ap.size() == gt.categories.size(), "per-class AP count differs from categories");
  for (const double ap : result.per_class_ap)
    GHM_FUZZ_REQUIRE(ap_in_range(ap), "a per-class AP outside [0, 1] and not -1");
}

}  // namespace ghm::fuzz
