// The shapes dataset writer of shapes_dataset.h: each split's images generated and written in
// parallel, then its COCO instances file, tallying what the files hold for the summary.
#include "io/shapes_dataset.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "io/output_file.h"
#include "io/image.h"
#include "io/json.h"

namespace ghm::io {
namespace {

constexpr int kJpegQuality = 90;
constexpr double kSmallArea = 32.0 * 32.0, kMediumArea = 96.0 * 96.0;  // COCO's area ranges

struct Counts {
  int empty = 0, small = 0, medium = 0, large = 0;  // images without objects; objects by COCO area range
  std::vector<int> per_class = std::vector<int>(shape_class_names().size(), 0);
};

std::string image_file_name(ShapesSplit split, int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "%06d.jpg", index + 1);
  return std::string(shapes_split_name(split)) + "/" + name;
}

// Generates and writes the split's images in parallel; returns their objects (without masks) in
// index order.
std::vector<std::vector<ShapeObject>> write_images(const ShapesDatasetOptions& o, ShapesSplit split, int count) {
  std::filesystem::create_directories(std::filesystem::path(o.out) / shapes_split_name(split));
  std::vector<std::vector<ShapeObject>> records(static_cast<std::size_t>(count));
  std::string first_error;
#pragma omp parallel for schedule(dynamic, 8)
  for (int i = 0; i < count; ++i) {
    try {
      ShapesImage sample = generate_shapes_image(o.shapes, o.seed, split, i);
      write_jpeg((std::filesystem::path(o.out) / image_file_name(split, i)).string(), sample.image, kJpegQuality);
      for (ShapeObject& object : sample.objects) object.mask = {};
      records[static_cast<std::size_t>(i)] = std::move(sample.objects);
    } catch (const std::exception& e) {
#pragma omp critical(make_shapes_error)
      if (first_error.empty()) first_error = e.what();
    }
  }
  GHM_CHECK(first_error.empty(), "make-shapes: ", first_error);
  return records;
}

Json categories_json() {
  Json categories = Json::array();
  const std::vector<std::string>& names = shape_class_names();
  for (std::size_t k = 0; k < names.size(); ++k)
    categories.push_back(
        Json::object().set("id", static_cast<int>(k) + 1).set("name", names[k]).set("supercategory", "shape"));
  return categories;
}

// The split's COCO instances document; tallies what it holds into `counts`.
Json coco_json(const ShapesDatasetOptions& o, ShapesSplit split, const std::vector<std::vector<ShapeObject>>& records,
               Counts& counts) {
  Json images = Json::array(), annotations = Json::array();
  int annotation_id = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const int image_id = static_cast<int>(i) + 1;
    images.push_back(Json::object()
                         .set("id", image_id)
                         .set("file_name", image_file_name(split, static_cast<int>(i)))
                         .set("width", o.shapes.image_size)
                         .set("height", o.shapes.image_size));
    if (records[i].empty()) ++counts.empty;
    for (const ShapeObject& a : records[i]) {
      annotations.push_back(Json::object()
                                .set("id", ++annotation_id)
                                .set("image_id", image_id)
                                .set("category_id", a.category_id)
                                .set("bbox", Json::array({a.x, a.y, a.width, a.height}))
                                .set("area", a.area)
                                .set("iscrowd", 0));
      ++counts.per_class[static_cast<std::size_t>(a.category_id - 1)];
      const double area = a.area;
      ++(area < kSmallArea ? counts.small : area < kMediumArea ? counts.medium : counts.large);
    }
  }
  const Json info = Json::object()
                        .set("description", "synthetic shapes detection dataset")
                        .set("split", shapes_split_name(split))
                        .set("seed", std::to_string(o.seed))
                        .set("image_size", o.shapes.image_size);
  return Json::object()
      .set("info", info)
      .set("licenses", Json::array())
      .set("images", std::move(images))
      .set("annotations", std::move(annotations))
      .set("categories", categories_json());
}

void print_summary(const ShapesDatasetOptions& o, const Counts& c, double seconds) {
  const std::vector<std::string>& names = shape_class_names();
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

void write_shapes_dataset(const ShapesDatasetOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  Counts counts;
  for (const auto& [split, count] : {std::pair{ShapesSplit::Train, o.train}, std::pair{ShapesSplit::Val, o.val}}) {
    const std::vector<std::vector<ShapeObject>> records = write_images(o, split, count);
    const std::string json_path =
        (std::filesystem::path(o.out) / (std::string(shapes_split_name(split)) + ".json")).string();
    write_output(json_path, coco_json(o, split, records, counts).dump() + "\n");
  }
  print_summary(o, counts, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace ghm::io
