// The synthetic "shapes" detection dataset: the generator of one image and its annotations.
//
//   ShapesImage sample = generate_shapes_image(ShapesOptions{}, seed, ShapesSplit::Train, index);
//
// An image is a pure function of (options, seed, split, index): the same arguments give the same
// pixels on every run and any number of threads, so a dataset can be generated in parallel and
// regenerated bit for bit.
//
// What is in an image (size x size pixels, RGB):
//   background  a two-colour gradient mixed with one texture (stripes, soft checker, Perlin fbm,
//               marble or none) and a slow brightness variation;
//   distractors 1 to 7 things that belong to no class, under the objects: crescents, open arcs,
//               long bars and ellipses, pen strokes, lumpy blobs, scribbled text, noise patches;
//   objects     none in about `empty_fraction` of the images, otherwise 1..max_objects shapes of
//               the classes below, each with a random colour (contrast against what lies under it
//               from subtle to strong), rotation, slight anisotropy, shading and sometimes an
//               outline or stripes. Longest sides run from 8 px to min(128, 0.8 * size),
//               log-uniformly with a share near the largest size, so that COCO's small, medium and
//               large area ranges all occur (large, area > 96^2, is the rarest: at 160 px about 5%
//               of the objects, as only compact shapes near the largest size reach it). Objects are
//               placed largest first, at random positions, and may overlap, larger ones tending to
//               lie on top; a placement is rejected when it would leave any object (itself
//               included, where it leaves the image) with less than min_visible_fraction of its
//               pixels visible. Objects that find no place in a few tries are left out;
//   noise       near-Gaussian pixel noise of a per-image strength (standard deviation 1 to 8).
// Edges are anti-aliased: a pixel's coverage is 0.5 - d clamped to [0, 1], d being the signed
// distance (in pixels, negative inside) from the pixel's centre to the shape's outline.
//
// Annotations come from the pixels, not the geometry: an object's mask is the set of pixels where
// its coverage is >= 0.5 and no later object's coverage is >= 0.5; its box is the tight box of
// that mask and its area the mask's pixel count (COCO's `area`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/image.h"

namespace ghm::io {

// The classes; category id k + 1 is shape_class_names()[k].
const std::vector<std::string>& shape_class_names();

enum class ShapesSplit { Train, Val };
const char* shapes_split_name(ShapesSplit split);  // "train", "val"

struct ShapesOptions {
  int image_size = 160;               // images are image_size x image_size, 32..4096
  int max_objects = 6;                // objects in a non-empty image: 1..max_objects, uniformly
  float empty_fraction = 0.05f;       // probability that an image has no objects
  float min_visible_fraction = 0.5f;  // of each object's own pixels, after occlusion and clipping
};

// Smallest and largest longest side of an object, in pixels, for images of `image_size`.
constexpr int kShapesMinObjectSize = 8;
int shapes_max_object_size(int image_size);

struct ShapeObject {
  int category_id = 0;                // 1..shape_class_names().size()
  int x = 0, y = 0, width = 0, height = 0;  // tight box of the mask: COCO [x, y, w, h]
  int area = 0;                       // pixels in the mask
  std::vector<std::uint8_t> mask;     // [size, size]: 1 where the object is visible
};

struct ShapesImage {
  Image image;
  std::vector<ShapeObject> objects;  // in drawing order: later objects lie on top
};

// Throws std::runtime_error naming the field when an option is out of range.
ShapesImage generate_shapes_image(const ShapesOptions& options, std::uint64_t seed, ShapesSplit split, int index);

}  // namespace ghm::io
