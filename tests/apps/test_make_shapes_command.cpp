// `ghm_retinanet make-shapes`: the files it writes (JPEGs that decode, COCO JSON with every field
// the loader and pycocotools read), annotations equal to the generator's, the same bytes for the
// same seed, and usage errors.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "io/image.h"
#include "io/json.h"
#include "io/shapes.h"
#include "scratch_dir.h"

namespace fs = std::filesystem;
using ghm::testing::ScratchDir;
using namespace ghm;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int make_shapes(const fs::path& out, const std::string& seed) {
  return app::run_make_shapes({"--out", out.string(), "--train", "10", "--val", "3", "--size", "64", "--seed", seed});
}

// Checks one split's COCO file against the images on disk and the generator.
void check_split(const fs::path& dir, io::ShapesSplit split, int count) {
  const std::string name = io::shapes_split_name(split);
  const io::Json doc = io::Json::parse(read_text(dir / (name + ".json")), name + ".json");
  const io::Json& categories = doc.at("categories");
  REQUIRE(categories.size() == io::shape_class_names().size());
  for (std::size_t k = 0; k < categories.size(); ++k) {
    CHECK(categories.at(k).at("id").as_int() == static_cast<std::int64_t>(k) + 1);
    CHECK(categories.at(k).at("name").as_string() == io::shape_class_names()[k]);
    CHECK(categories.at(k).at("supercategory").as_string() == "shape");
  }
  const io::Json& images = doc.at("images");
  REQUIRE(images.size() == static_cast<std::size_t>(count));
  io::ShapesOptions options;
  options.image_size = 64;
  std::vector<std::vector<const io::Json*>> per_image(static_cast<std::size_t>(count));
  std::set<std::int64_t> annotation_ids;
  for (const io::Json& a : doc.at("annotations").as_array()) {
    CHECK(annotation_ids.insert(a.at("id").as_int()).second);
    CHECK(a.at("iscrowd").as_int() == 0);
    const std::int64_t image_id = a.at("image_id").as_int();
    REQUIRE(image_id >= 1);
    REQUIRE(image_id <= count);
    per_image[static_cast<std::size_t>(image_id - 1)].push_back(&a);
  }
  for (int i = 0; i < count; ++i) {
    CAPTURE(i);
    const io::Json& image = images.at(static_cast<std::size_t>(i));
    CHECK(image.at("id").as_int() == i + 1);
    CHECK(image.at("width").as_int() == 64);
    CHECK(image.at("height").as_int() == 64);
    const std::string file = image.at("file_name").as_string();
    CHECK(file.starts_with(name + "/"));
    const io::Image pixels = io::read_image((dir / file).string());
    CHECK(pixels.width == 64);
    CHECK(pixels.height == 64);
    const io::ShapesImage truth = io::generate_shapes_image(options, 5, split, i);
    REQUIRE(per_image[static_cast<std::size_t>(i)].size() == truth.objects.size());
    for (std::size_t k = 0; k < truth.objects.size(); ++k) {
      const io::Json& a = *per_image[static_cast<std::size_t>(i)][k];
      const io::ShapeObject& o = truth.objects[k];
      CHECK(a.at("category_id").as_int() == o.category_id);
      CHECK(a.at("area").as_int() == o.area);
      const io::Json& box = a.at("bbox");
      CHECK(box.at(0).as_int() == o.x);
      CHECK(box.at(1).as_int() == o.y);
      CHECK(box.at(2).as_int() == o.width);
      CHECK(box.at(3).as_int() == o.height);
    }
  }
}

}  // namespace

TEST_CASE("make-shapes command: JPEGs and COCO files that match the generator, the same for the same seed") {
  ScratchDir a("make_shapes"), b("make_shapes"), c("make_shapes");
  REQUIRE(make_shapes(a.path(), "5") == 0);
  check_split(a.path(), io::ShapesSplit::Train, 10);
  check_split(a.path(), io::ShapesSplit::Val, 3);

  REQUIRE(make_shapes(b.path(), "5") == 0);
  for (const std::string file : {"train.json", "val.json", "train/000001.jpg", "train/000010.jpg", "val/000003.jpg"}) {
    CAPTURE(file);
    CHECK(read_text(a.path() / file) == read_text(b.path() / file));
  }
  REQUIRE(make_shapes(c.path(), "6") == 0);
  CHECK(read_text(a.path() / "train.json") != read_text(c.path() / "train.json"));
  CHECK(read_text(a.path() / "train/000001.jpg") != read_text(c.path() / "train/000001.jpg"));
}

TEST_CASE("make-shapes command: usage errors") {
  CHECK(app::run_make_shapes({"--help"}) == 0);
  CHECK_THROWS_AS(app::run_make_shapes({}), app::UsageError);
  CHECK_THROWS_AS(app::run_make_shapes({"--train", "3"}), app::UsageError);
  CHECK_THROWS_AS(app::run_make_shapes({"--out"}), app::UsageError);
  CHECK_THROWS_AS(app::run_make_shapes({"--out", "x", "--colour", "red"}), app::UsageError);
  CHECK_THROWS_WITH_AS(app::run_make_shapes({"--out", "x", "--train", "-1"}),
                       doctest::Contains("make-shapes: --train: must be in 0..10000000, got -1"), app::UsageError);
  CHECK_THROWS_WITH_AS(app::run_make_shapes({"--out", "x", "--size", "16"}), doctest::Contains("--size"),
                       app::UsageError);
  CHECK_THROWS_WITH_AS(app::run_make_shapes({"--out", "x", "--seed", "12abc"}), doctest::Contains("'12abc'"),
                       app::UsageError);
}
