// Fuzz target: a COCO instances file (coco/instances.h) through both of its views.
//   evaluation: coco::parse_ground_truth on the bytes; if accepted and small, the evaluator runs
//               on it with every annotation also given as a detection (score falling with its
//               position), which reaches the matching and accumulation code with the file's
//               boxes, areas and crowd flags;
//   training:   coco::load_dataset on the bytes as a file (memory_file.h); an input of odd
//               length drops images without boxes (EmptyImages::Drop), an even one keeps them.
// Properties (coco_properties.h): indices in range, ids ordered, boxes grouped by image, every
// statistic -1 or within [0, 1].
#include <string_view>

#include "coco/dataset.h"
#include "coco/eval.h"
#include "fuzz/coco_properties.h"
#include "fuzz/memory_file.h"
#include "fuzz/targets.h"

namespace ghm::fuzz {
namespace {

// Evaluation cost grows with categories x images; fuzz inputs past these sizes are only read.
constexpr std::size_t kMaxEvaluatedCategories = 64;
constexpr std::size_t kMaxEvaluatedAnnotations = 2000;

void evaluate_against_itself(const coco::GroundTruth& gt) {
  if (gt.annotations.empty() || gt.categories.size() > kMaxEvaluatedCategories ||
      gt.annotations.size() > kMaxEvaluatedAnnotations)
    return;
  coco::Detections dt;
  dt.source = "the ground truth's own boxes";
  for (std::size_t i = 0; i < gt.annotations.size(); ++i) {
    const coco::Annotation& a = gt.annotations[i];
    dt.detections.push_back({a.image, a.category, a.box, 1.0 / static_cast<double>(i + 1)});
  }
  require_consistent(coco::evaluate_bbox(gt, dt), gt);
}

}  // namespace

int fuzz_coco_instances(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  reject_quietly([&] {
    const coco::GroundTruth gt = coco::parse_ground_truth(text, "fuzz input");
    require_consistent(gt);
    evaluate_against_itself(gt);
  });

  static MemoryFile file("coco_instances");
  file.assign(data, size);
  coco::LoadOptions options;
  options.empty_images = size % 2 == 1 ? coco::EmptyImages::Drop : coco::EmptyImages::Keep;
  options.warnings = coco::Warnings::Collect;
  return reject_quietly([&] { require_consistent(coco::load_dataset(file.path(), options)); });
}

}  // namespace ghm::fuzz
