// `ghm_retinanet detect`: run a trained model on image files or folders; for each image write
// <stem>.json (its detections) and <stem>.jpg (the image with boxes, class names and scores). The
// work and the JSON layout are engine/detect.h.
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/detect.h"

namespace ghm::app {

int run_detect(const std::vector<std::string>& args) {
  const auto app = cli::make_command("detect", "draw a trained model's detections on images (JPEG + JSON per image)");
  engine::DetectImagesOptions o;
  cli::add_config(*app, o.config_path);
  cli::add_checkpoint(*app, o.checkpoint);
  app->add_option("--out", o.out_dir, "where <stem>.json and <stem>.jpg go, in the inputs' folder structure (created if missing; must not hold an input)")
      ->type_name("DIR")
      ->required();
  app->add_option("--score-thresh", o.score_thresh, "the lowest score kept, in the JSON and the drawing")
      ->default_str("0.3")
      ->check(cli::number_in(0, 1));
  cli::add_overrides(*app, o.overrides);
  cli::add_precision(*app, o.overrides, "test.precision");
  cli::add_device(*app, o.device);
  app->add_option("inputs", o.inputs, "image files, or folders of .jpg, .jpeg, .png and .bmp files (not recursive)")
      ->type_name("IMAGE|DIR")
      ->default_str("")
      ->required();
  app->footer("Class names come from data.val_json (or data.train_json).");
  if (!cli::parse(*app, args)) return 0;
  engine::detect_images(o);
  return 0;
}

}  // namespace ghm::app
