// Tests for io/shape_classification: an image is a pure function of (size, seed, split, index),
// also from many threads; labels cycle through the 28 classes; the splits, the seeds and the
// detection data's images all differ; bad arguments are errors naming them. (That the classes can
// be told apart is tested by training on them: tests/apps/test_pretrain.cpp.)
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "core/check.h"
#include "io/shape_classification.h"
#include "io/shapes.h"

using namespace ghm::io;

TEST_CASE("classification set: 28 classes named shape/family, labels cycle with the index") {
  CHECK(classification_class_count() == 28);
  CHECK(classification_class_name(0) == "circle/flat");
  CHECK(classification_class_name(5) == "square/striped");
  CHECK(classification_class_name(27) == "cross/gradient");
  std::set<std::string> names;
  for (int c = 0; c < 28; ++c) names.insert(classification_class_name(c));
  CHECK(names.size() == 28);
  for (const std::int64_t i : {0, 1, 27, 28, 29, 1000})
    CHECK(generate_classification_image(32, 0, ClassificationSplit::Train, i).label == i % 28);
  CHECK_THROWS_WITH_AS(classification_class_name(28), doctest::Contains("label 28 is outside [0, 28)"), ghm::Error);
}

TEST_CASE("classification set: an image is a pure function of its arguments, on any thread") {
  const int count = 24;
  std::vector<std::vector<std::uint8_t>> serial, parallel(count);
  for (int i = 0; i < count; ++i)
    serial.push_back(generate_classification_image(48, 9, ClassificationSplit::Train, i).image.data);
#pragma omp parallel for num_threads(2)
  for (int i = count - 1; i >= 0; --i)
    parallel[i] = generate_classification_image(48, 9, ClassificationSplit::Train, i).image.data;
  CHECK(serial == parallel);
  const ClassificationImage a = generate_classification_image(48, 9, ClassificationSplit::Train, 3);
  CHECK(a.image.width == 48);
  CHECK(a.image.height == 48);
  CHECK(a.image.data.size() == 48u * 48u * 3u);
}

TEST_CASE("classification set: splits, seeds and the detection data give different images") {
  std::set<std::string> seen;  // the pixels as bytes
  const auto bytes = [](const Image& image) { return std::string(image.data.begin(), image.data.end()); };
  for (int i = 0; i < 10; ++i) {
    seen.insert(bytes(generate_classification_image(64, 0, ClassificationSplit::Train, i).image));
    seen.insert(bytes(generate_classification_image(64, 0, ClassificationSplit::Val, i).image));
    seen.insert(bytes(generate_classification_image(64, 1, ClassificationSplit::Train, i).image));
    ShapesOptions options;
    options.image_size = 64;
    seen.insert(bytes(generate_shapes_image(options, 0, ShapesSplit::Train, i).image));
    seen.insert(bytes(generate_shapes_image(options, 0, ShapesSplit::Val, i).image));
  }
  CHECK(seen.size() == 50);
}

TEST_CASE("classification set: bad arguments are errors naming them") {
  CHECK_THROWS_WITH_AS(generate_classification_image(31, 0, ClassificationSplit::Train, 0),
                       doctest::Contains("image_size 31 is outside 32..1024"), ghm::Error);
  CHECK_THROWS_WITH_AS(generate_classification_image(2000, 0, ClassificationSplit::Train, 0),
                       doctest::Contains("image_size 2000"), ghm::Error);
  CHECK_THROWS_WITH_AS(generate_classification_image(64, 0, ClassificationSplit::Train, -1),
                       doctest::Contains("index -1 is negative"), ghm::Error);
}
