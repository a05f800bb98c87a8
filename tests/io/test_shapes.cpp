// Tests for io/shapes: an image is a pure function of (options, seed, split, index), also when
// generated from many threads; every annotation is the tight box and pixel count of its mask,
// masks do not overlap, and their edges are where the image has its edges; over a few hundred
// images every class and each COCO area range occurs and about 5% of the images are empty; bad
// options are errors naming the option.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/check.h"
#include "io/shapes.h"

using ghm::io::generate_shapes_image;
using ghm::io::ShapeObject;
using ghm::io::ShapesImage;
using ghm::io::ShapesOptions;
using ghm::io::ShapesSplit;

namespace {

bool same(const ShapeObject& a, const ShapeObject& b) {
  return a.category_id == b.category_id && a.x == b.x && a.y == b.y && a.width == b.width && a.height == b.height &&
         a.area == b.area && a.mask == b.mask;
}

bool same(const ShapesImage& a, const ShapesImage& b) {
  return a.image.data == b.image.data && a.objects.size() == b.objects.size() &&
         std::equal(a.objects.begin(), a.objects.end(), b.objects.begin(),
                    [](const ShapeObject& x, const ShapeObject& y) { return same(x, y); });
}

// Checks one object's annotation against its mask: the box is the mask's tight box and the area
// its pixel count.
void check_annotation_matches_mask(const ShapeObject& o, int size) {
  REQUIRE(o.mask.size() == static_cast<std::size_t>(size) * size);
  int x0 = size, y0 = size, x1 = -1, y1 = -1, count = 0;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      if (o.mask[static_cast<std::size_t>(y) * size + x] != 0) {
        ++count;
        x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
      }
  REQUIRE(count > 0);
  CHECK(o.area == count);
  CHECK(o.x == x0);
  CHECK(o.y == y0);
  CHECK(o.width == x1 - x0 + 1);
  CHECK(o.height == y1 - y0 + 1);
  CHECK(o.category_id >= 1);
  CHECK(o.category_id <= static_cast<int>(ghm::io::shape_class_names().size()));
}

}  // namespace

TEST_CASE("shapes: an image is a pure function of the seed, split and index") {
  const ShapesOptions options;
  const ShapesImage a = generate_shapes_image(options, 7, ShapesSplit::Train, 3);
  CHECK(a.image.height == 160);
  CHECK(a.image.width == 160);
  CHECK(same(a, generate_shapes_image(options, 7, ShapesSplit::Train, 3)));
  CHECK(a.image.data != generate_shapes_image(options, 8, ShapesSplit::Train, 3).image.data);
  CHECK(a.image.data != generate_shapes_image(options, 7, ShapesSplit::Val, 3).image.data);
  CHECK(a.image.data != generate_shapes_image(options, 7, ShapesSplit::Train, 4).image.data);
}

TEST_CASE("shapes: images generated from many threads equal those generated in order") {
  constexpr int kImages = 12;
  ShapesOptions options;
  options.image_size = 96;
  std::vector<ShapesImage> parallel(kImages);
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < kImages; ++i)
    parallel[static_cast<std::size_t>(i)] = generate_shapes_image(options, 1, ShapesSplit::Val, i);
  for (int i = 0; i < kImages; ++i) {
    CAPTURE(i);
    CHECK(same(parallel[static_cast<std::size_t>(i)], generate_shapes_image(options, 1, ShapesSplit::Val, i)));
  }
}

TEST_CASE("shapes: boxes and areas are the tight box and pixel count of disjoint visible masks") {
  ShapesOptions options;
  for (const int size : {160, 64}) {
    options.image_size = size;
    for (int index = 0; index < 24; ++index) {
      CAPTURE(size);
      CAPTURE(index);
      const ShapesImage sample = generate_shapes_image(options, 0, ShapesSplit::Train, index);
      REQUIRE(sample.image.height == size);
      std::vector<int> owners(static_cast<std::size_t>(size) * size, 0);
      for (const ShapeObject& o : sample.objects) {
        check_annotation_matches_mask(o, size);
        CHECK(std::max(o.width, o.height) <= ghm::io::shapes_max_object_size(size));
        for (std::size_t p = 0; p < owners.size(); ++p) owners[p] += o.mask[p];
      }
      CHECK(*std::max_element(owners.begin(), owners.end()) <= 1);
    }
  }
}

TEST_CASE("shapes: classes, COCO area ranges and empty images are all represented") {
  constexpr int kImages = 240;
  const ShapesOptions options;
  std::vector<int> per_class(ghm::io::shape_class_names().size(), 0);
  int small = 0, medium = 0, large = 0, empty = 0, objects = 0;
  for (int index = 0; index < kImages; ++index) {
    const ShapesImage sample = generate_shapes_image(options, 0, ShapesSplit::Train, index);
    empty += sample.objects.empty();
    for (const ShapeObject& o : sample.objects) {
      ++objects;
      ++per_class[static_cast<std::size_t>(o.category_id - 1)];
      ++(o.area < 32 * 32 ? small : o.area < 96 * 96 ? medium : large);
    }
  }
  CAPTURE(small);
  CAPTURE(medium);
  CAPTURE(large);
  CAPTURE(empty);
  // 1..6 objects in 95% of the images: about 3.3 per image, a few dropped when they cannot be placed.
  CHECK(objects > 3 * kImages * 0.95 * 0.9);
  for (const int count : per_class) CHECK(count > objects / 14);  // 7 classes, drawn uniformly
  CHECK(small > objects / 4);
  CHECK(medium > objects / 4);
  CHECK(large > objects / 50);
  // Binomial(240, 0.05): mean 12, standard deviation 3.4; the seed is fixed, the bounds are loose.
  CHECK(empty >= 4);
  CHECK(empty <= 24);
}

TEST_CASE("shapes: options out of range are errors naming the option") {
  ShapesOptions options;
  options.image_size = 16;
  CHECK_THROWS_WITH_AS(generate_shapes_image(options, 0, ShapesSplit::Train, 0), doctest::Contains("image_size 16"),
                       ghm::Error);
  options = ShapesOptions{};
  options.max_objects = 0;
  CHECK_THROWS_WITH_AS(generate_shapes_image(options, 0, ShapesSplit::Train, 0), doctest::Contains("max_objects 0"),
                       ghm::Error);
  options = ShapesOptions{};
  options.empty_fraction = 1.5f;
  CHECK_THROWS_WITH_AS(generate_shapes_image(options, 0, ShapesSplit::Train, 0), doctest::Contains("empty_fraction"),
                       ghm::Error);
  options = ShapesOptions{};
  options.empty_fraction = 1;
  CHECK(generate_shapes_image(options, 0, ShapesSplit::Train, 0).objects.empty());
}

namespace {

// Sums of the mean over colour channels of |I(p) - I(q)|, over 4-neighbours p, q with p in the mask
// shifted right by `shift` pixels and q outside it (the mask's edge) or inside it too (its inside).
struct EdgeContrast {
  double edge = 0, inside = 0;
  long edge_pairs = 0, inside_pairs = 0;
};

void add_contrast(const ShapesImage& sample, const ShapeObject& o, int shift, EdgeContrast& c) {
  const int size = sample.image.width;
  const auto in_mask = [&](int x, int y) {
    x -= shift;
    return x >= 0 && y >= 0 && x < size && y < size && o.mask[static_cast<std::size_t>(y) * size + x] != 0;
  };
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      if (!in_mask(x, y)) continue;
      for (const auto& [dx, dy] : {std::pair{1, 0}, std::pair{-1, 0}, std::pair{0, 1}, std::pair{0, -1}}) {
        const int qx = x + dx, qy = y + dy;
        if (qx < 0 || qy < 0 || qx >= size || qy >= size) continue;
        double d = 0;
        for (int k = 0; k < 3; ++k) d += std::abs(sample.image.pixel(y, x)[k] - sample.image.pixel(qy, qx)[k]) / 3.0;
        if (in_mask(qx, qy)) c.inside += d, ++c.inside_pairs;
        else c.edge += d, ++c.edge_pairs;
      }
    }
}

}  // namespace

TEST_CASE("shapes: masks follow the edges drawn in the image") {
  EdgeContrast truth, shifted;
  for (int index = 0; index < 30; ++index) {
    const ShapesImage sample = generate_shapes_image(ShapesOptions{}, 0, ShapesSplit::Val, index);
    for (const ShapeObject& o : sample.objects) {
      add_contrast(sample, o, 0, truth);
      add_contrast(sample, o, 1, shifted);
    }
  }
  const double edge = truth.edge / truth.edge_pairs, inside = truth.inside / truth.inside_pairs;
  const double shifted_edge = shifted.edge / shifted.edge_pairs;
  CAPTURE(edge);
  CAPTURE(inside);
  CAPTURE(shifted_edge);
  // Measured: edge 54, inside 7, edge of the mask shifted by one pixel 26. A mask off by a pixel
  // (or a box from the geometry rather than the pixels) would halve the contrast at its edge.
  CHECK(edge > 3 * inside);
  CHECK(edge > 1.5 * shifted_edge);
}
