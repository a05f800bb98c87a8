// `ghm_retinanet make-shapes`: writes the synthetic shapes detection dataset in COCO format (the
// writer and the file layout are io/shapes_dataset.h, the images io/shapes.h). Prints one summary
// line.
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "io/shapes_dataset.h"

namespace ghm::app {

int run_make_shapes(const std::vector<std::string>& args) {
  const auto app =
      cli::make_command("make-shapes", "write the synthetic shapes detection dataset (COCO JSON + JPEG images)");
  constexpr int kMaxImages = 10'000'000;
  io::ShapesDatasetOptions o;
  app->add_option("--out", o.out, "output folder: train/*.jpg, val/*.jpg, train.json, val.json (created if missing)")
      ->type_name("DIR")
      ->required();
  app->add_option("--train", o.train, "training images")->type_name("N")->check(cli::integer_in(0, kMaxImages));
  app->add_option("--val", o.val, "validation images")->type_name("N")->check(cli::integer_in(0, kMaxImages));
  app->add_option("--size", o.shapes.image_size, "image side in pixels")
      ->type_name("PX")
      ->check(cli::integer_in(32, 4096));
  app->add_option("--seed", o.seed, "random seed; the same seed writes the same files")
      ->type_name("S")
      ->check(cli::seed());
  app->footer("The shapes: circle, square, triangle, star, hexagon, ring, cross.");
  if (!cli::parse(*app, args)) return 0;
  io::write_shapes_dataset(o);
  return 0;
}

}  // namespace ghm::app
