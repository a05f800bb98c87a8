// `ghm_retinanet make-shapes`: writes the synthetic shapes detection dataset (io/shapes.h) in COCO
// format:
//
//   DIR/train/000001.jpg ...  DIR/val/000001.jpg ...   JPEG, quality 90
//   DIR/train.json, DIR/val.json                        COCO instances files
//
// Image ids run from 1 in each split and file_name is relative to DIR ("train/000001.jpg").
// Annotations: bbox [x, y, w, h] is the tight box of the object's visible pixels, area their count,
// iscrowd 0, ids from 1 in each file; categories are the shape classes with ids 1..K and
// supercategory "shape". Images are generated in parallel (OpenMP), each from its own seed, so the
// files are the same for any thread count. Prints one summary line.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "core/check.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "io/json.h"
#include "io/shapes.h"

namespace ghm::app {
namespace {

constexpr int kJpegQuality = 90;
constexpr double kSmallArea = 32.0 * 32.0, kMediumArea = 96.0 * 96.0;  // COCO's area ranges

struct Options {
  std::string out;
  int train = 2000, val = 200;
  std::uint64_t seed = 0;
  io::ShapesOptions shapes;
};

struct Counts {
  int empty = 0, small = 0, medium = 0, large = 0;  // images without objects; objects by COCO area range
  std::vector<int> per_class = std::vector<int>(io::shape_class_names().size(), 0);
};

std::string image_file_name(io::ShapesSplit split, int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "%06d.jpg", index + 1);
  return std::string(io::shapes_split_name(split)) + "/" + name;
}

// Generates and writes the split's images in parallel; returns their objects (without masks) in
// index order.
std::vector<std::vector<io::ShapeObject>> write_images(const Options& o, io::ShapesSplit split, int count) {
  std::filesystem::create_directories(std::filesystem::path(o.out) / io::shapes_split_name(split));
  std::vector<std::vector<io::ShapeObject>> records(static_cast<std::size_t>(count));
  std::string first_error;
#pragma omp parallel for schedule(dynamic, 8)
  for (int i = 0; i < count; ++i) {
    try {
      io::ShapesImage sample = io::generate_shapes_image(o.shapes, o.seed, split, i);
      io::write_jpeg((std::filesystem::path(o.out) / image_file_name(split, i)).string(), sample.image, kJpegQuality);
      for (io::ShapeObject& object : sample.objects) object.mask = {};
      records[static_cast<std::size_t>(i)] = std::move(sample.objects);
    } catch (const std::exception& e) {
#pragma omp critical(make_shapes_error)
      if (first_error.empty()) first_error = e.what();
    }
  }
  GHM_CHECK(first_error.empty(), "make-shapes: ", first_error);
  return records;
}

io::Json categories_json() {
  io::Json categories = io::Json::array();
  const std::vector<std::string>& names = io::shape_class_names();
  for (std::size_t k = 0; k < names.size(); ++k)
    categories.push_back(
        io::Json::object().set("id", static_cast<int>(k) + 1).set("name", names[k]).set("supercategory", "shape"));
  return categories;
}

// The split's COCO instances document; tallies what it holds into `counts`.
io::Json coco_json(const Options& o, io::ShapesSplit split, const std::vector<std::vector<io::ShapeObject>>& records,
                   Counts& counts) {
  io::Json images = io::Json::array(), annotations = io::Json::array();
  int annotation_id = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const int image_id = static_cast<int>(i) + 1;
    images.push_back(io::Json::object()
                         .set("id", image_id)
                         .set("file_name", image_file_name(split, static_cast<int>(i)))
                         .set("width", o.shapes.image_size)
                         .set("height", o.shapes.image_size));
    if (records[i].empty()) ++counts.empty;
    for (const io::ShapeObject& a : records[i]) {
      annotations.push_back(io::Json::object()
                                .set("id", ++annotation_id)
                                .set("image_id", image_id)
                                .set("category_id", a.category_id)
                                .set("bbox", io::Json::array({a.x, a.y, a.width, a.height}))
                                .set("area", a.area)
                                .set("iscrowd", 0));
      ++counts.per_class[static_cast<std::size_t>(a.category_id - 1)];
      const double area = a.area;
      ++(area < kSmallArea ? counts.small : area < kMediumArea ? counts.medium : counts.large);
    }
  }
  const io::Json info = io::Json::object()
                            .set("description", "synthetic shapes detection dataset")
                            .set("split", io::shapes_split_name(split))
                            .set("seed", std::to_string(o.seed))
                            .set("image_size", o.shapes.image_size);
  return io::Json::object()
      .set("info", info)
      .set("licenses", io::Json::array())
      .set("images", std::move(images))
      .set("annotations", std::move(annotations))
      .set("categories", categories_json());
}

void print_summary(const Options& o, const Counts& c, double seconds) {
  const std::vector<std::string>& names = io::shape_class_names();
  std::string classes;
  int objects = 0;
  for (std::size_t k = 0; k < names.size(); ++k) {
    classes += (k == 0 ? "" : ", ") + names[k] + " " + std::to_string(c.per_class[k]);
    objects += c.per_class[k];
  }
  std::printf(
      "make-shapes: %d train + %d val images of %dx%d in %s (%.1f s): %d objects (%s); small %d, medium %d, "
      "large %d; empty images %d\n",
      o.train, o.val, o.shapes.image_size, o.shapes.image_size, o.out.c_str(), seconds, objects, classes.c_str(),
      c.small, c.medium, c.large, c.empty);
}

}  // namespace

int run_make_shapes(const std::vector<std::string>& args) {
  const auto app =
      cli::make_command("make-shapes", "write the synthetic shapes detection dataset (COCO JSON + JPEG images)");
  constexpr int kMaxImages = 10'000'000;
  Options o;
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
  const auto start = std::chrono::steady_clock::now();
  Counts counts;
  for (const auto& [split, count] :
       {std::pair{io::ShapesSplit::Train, o.train}, std::pair{io::ShapesSplit::Val, o.val}}) {
    const std::vector<std::vector<io::ShapeObject>> records = write_images(o, split, count);
    const std::string json_path =
        (std::filesystem::path(o.out) / (std::string(io::shapes_split_name(split)) + ".json")).string();
    io::write_file_atomic(json_path, coco_json(o, split, records, counts).dump() + "\n");
  }
  print_summary(o, counts, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

}  // namespace ghm::app
