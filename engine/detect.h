// Detection on image files, behind `ghm_retinanet detect`: a trained model (evaluation mode) runs
// on each image alone, resized and normalised as at inference (data.test_short_side,
// data.max_side; with test-time augmentation, each view of test_time_augmentation.h, fused, and
// the fused detections below --score-thresh dropped), and for each image writes, in the output
// folder (where exactly: detect_outputs.h),
//
//   <stem>.json  {"file": ..., "width": W, "height": H,
//                 "detections": [{"bbox": [x, y, w, h], "score": s, "category_id": c, "category": name}, ...]}
//                best first, in original-image pixels;
//   <stem>.jpg   the image with each detection's box, class name and score (the best drawn last, on top).
//
// Class names come from data.val_json (or data.train_json), whose categories must match
// model.head.num_classes.
#pragma once

#include <string>
#include <vector>

namespace ghm::engine {

struct DetectImagesOptions {
  std::string config_path;             // YAML config (docs/config.md)
  std::vector<std::string> overrides;  // key=value config overrides, applied in order
  std::string checkpoint;              // a checkpoint, or a work directory (its newest)
  std::string out_dir;                 // created if missing
  std::vector<std::string> inputs;     // image files, or folders of .jpg, .jpeg, .png and .bmp files (not recursive)
  float score_thresh = 0.3f;           // the lowest score kept, in the JSON and the drawing
  std::string device = "cpu";          // cpu, cuda or cuda:I (checked by parse_device when the model is loaded)
};

// Writes <stem>.json and <stem>.jpg per image and prints one line per image. The outputs are planned
// (and an output folder holding an input refused) before the model is loaded.
void detect_images(const DetectImagesOptions& options);

}  // namespace ghm::engine
