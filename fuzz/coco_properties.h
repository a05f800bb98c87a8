// Properties of what the COCO readers and the evaluator return, checked by the COCO fuzz targets
// on every input the readers accept (a violation aborts: targets.h, GHM_FUZZ_REQUIRE).
#pragma once

#include "coco/dataset.h"
#include "coco/eval.h"

namespace ghm::fuzz {

// Image ids ascending and unique, categories ascending by id with label == index, every
// annotation's image and category index in range.
void require_consistent(const coco::GroundTruth& gt);
// Categories as above; every image's boxes inside `boxes`, back to back in image order; every
// box's label in range.
void require_consistent(const coco::Dataset& data);
// Detections' image and category indices within `gt`.
void require_consistent(const coco::Detections& dt, const coco::GroundTruth& gt);
// Each of the 12 statistics and each per-class AP is -1 (no ground truth) or within [0, 1];
// per_class_ap has one entry per category.
void require_consistent(const coco::EvalResult& result, const coco::GroundTruth& gt);

}  // namespace ghm::fuzz
