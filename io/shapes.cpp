// The shapes generator (what an image contains is described in shapes.h): the class shapes, object
// sizes and placement with the visibility rule, the annotations from the pixels, and
// generate_shapes_image, which puts a scene together:
//   background and distractors (shapes_background.cpp), then the objects, largest first, each
//   rasterised once (shapes_geometry.cpp) and tried at a few positions, then painted bottom to top
//   (shapes_paint.cpp), then pixel noise and rounding to bytes.
//
// Randomness: one ghm::Generator per image, seeded from (seed, split, index) by SplitMix64 steps;
// nothing is shared between images, so any number of threads gives the same bytes.
#include "io/shapes.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/check.h"
#include "core/random.h"
#include "io/shapes_background.h"
#include "io/shapes_geometry.h"
#include "io/shapes_paint.h"

namespace ghm::io {
namespace {

using shapes::Canvas;
using shapes::class_shape;
using shapes::Color;
using shapes::contrasting_color;
using shapes::Field;
using shapes::kPi;
using shapes::mean_under;
using shapes::Paint;
using shapes::paint;
using shapes::paint_background;
using shapes::paint_distractors;
using shapes::place;
using shapes::quantize_with_noise;
using shapes::Point;
using shapes::random_paint;
using shapes::rasterize;
using shapes::Region;

constexpr int kMaxObjectSize = 128;
constexpr float kMaxObjectFraction = 0.8f;  // of the image side
constexpr float kLargeObjectShare = 0.3f;   // of objects with a size near the largest
constexpr int kShrinkSteps = 3;             // placement: sizes tried per object (each 0.75x the last)
constexpr int kPositionsPerSize = 12;       // placement: positions tried per size
constexpr float kBorderOverhang = 0.15f;    // of an object's size, how far its box may leave the image

// ---- objects -------------------------------------------------------------------------------------

// Longest sides of an image's objects, largest first: log-uniform over [8, max] (half of them under
// 32 px), or with probability kLargeObjectShare from the top 10% of the range. COCO's "large" needs
// an area over 96^2 pixels, which at most 128 px per side only compact shapes (circles, hexagons,
// upright squares) reach, and only when nothing covers much of them.
std::vector<float> sample_sizes(Generator& rng, int count, int max_size) {
  const float hi = static_cast<float>(max_size), lo = static_cast<float>(kShapesMinObjectSize);
  std::vector<float> sizes;
  for (int i = 0; i < count; ++i)
    sizes.push_back(rng.uniform() < kLargeObjectShare ? rng.uniform(0.9f * hi, hi)
                                                      : std::exp(rng.uniform(std::log(lo), std::log(hi))));
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  return sizes;
}

// An object in place: its field (already shifted to its position), paint and layer. Objects are
// painted in increasing (layer, index) order, so the one with the higher layer lies on top.
struct PlacedObject {
  int category_id = 0;
  float layer = 0;
  Field field;
  Paint paint;
  int full_pixels = 0;  // pixels with coverage >= 0.5, inside the image or not
  int visible = 0;      // of those, the ones inside the image with no object on top
};

// The topmost object at each pixel of the image (an index into the placed objects), or -1.
using OwnerMap = std::vector<int>;  // [size, size]

bool on_top(float layer_a, std::size_t index_a, float layer_b, std::size_t index_b) {
  return layer_a != layer_b ? layer_a > layer_b : index_a > index_b;
}

int inside_count(const Field& f) {
  return static_cast<int>(std::count_if(f.distance.begin(), f.distance.end(), [](float d) { return d <= 0; }));
}

// Calls visit(y * size + x) for every pixel of the image that the field covers at >= 0.5.
template <class Visit>
void for_each_covered(const Field& f, int size, Visit visit) {
  for (int y = std::max(f.y0, 0); y < std::min(f.y0 + f.height, size); ++y)
    for (int x = std::max(f.x0, 0); x < std::min(f.x0 + f.width, size); ++x)
      if (f.at(x, y) <= 0) visit(static_cast<std::size_t>(y) * size + x);
}

// Whether adding `candidate` as object number placed.size() keeps every object, itself included,
// at least min_fraction visible.
bool placement_ok(const PlacedObject& candidate, const std::vector<PlacedObject>& placed, const OwnerMap& owner,
                  int size, float min_fraction) {
  int own = 0;
  std::vector<int> lost(placed.size(), 0);
  for_each_covered(candidate.field, size, [&](std::size_t at) {
    const int o = owner[at];
    if (o >= 0 && on_top(placed[o].layer, o, candidate.layer, placed.size())) return;
    ++own;
    if (o >= 0) ++lost[o];
  });
  if (own < min_fraction * static_cast<float>(candidate.full_pixels)) return false;
  for (std::size_t i = 0; i < placed.size(); ++i)
    if (static_cast<float>(placed[i].visible - lost[i]) < min_fraction * static_cast<float>(placed[i].full_pixels))
      return false;
  return true;
}

// Adds `object` and takes over the pixels where it lies on top.
void claim(PlacedObject object, std::vector<PlacedObject>& placed, OwnerMap& owner, int size) {
  const std::size_t index = placed.size();
  for_each_covered(object.field, size, [&](std::size_t at) {
    int& o = owner[at];
    if (o >= 0 && on_top(placed[o].layer, o, object.layer, index)) return;
    if (o >= 0) --placed[o].visible;
    o = static_cast<int>(index);
    ++object.visible;
  });
  placed.push_back(std::move(object));
}

// Places one object: up to kShrinkSteps sizes, kPositionsPerSize positions each; claims its
// pixels when a placement passes, does nothing when none does. Its colour contrasts with the
// background and distractors under it.
void place_object(const Canvas& canvas, Generator& rng, const ShapesOptions& options, int category_id, float size,
                  std::vector<PlacedObject>& placed, OwnerMap& owner) {
  const Region shape = class_shape(category_id - 1, rng);
  const float angle = rng.uniform(0, 2 * kPi);
  // Larger objects tend to lie on top, as nearer things look larger; this also keeps the largest
  // ones large (COCO area > 96^2) rather than covered by the smaller ones placed after them.
  const float layer = rng.uniform() + size / static_cast<float>(shapes_max_object_size(options.image_size));
  const float n = static_cast<float>(options.image_size);
  for (int step = 0; step < kShrinkSteps;
       ++step, size = std::max(0.75f * size, static_cast<float>(kShapesMinObjectSize))) {
    const Point subpixel{rng.uniform(0, 1), rng.uniform(0, 1)};
    PlacedObject object{category_id, layer, rasterize(place(shape, angle, size, subpixel)), {}, 0, 0};
    object.full_pixels = inside_count(object.field);
    if (object.full_pixels == 0) continue;
    // Centres keep the shape's box inside the image, up to kBorderOverhang of its size for shapes
    // smaller than half the image (so that the largest ones stay large).
    const float overhang = size > 0.5f * n ? 0.0f : kBorderOverhang;
    const float lo = std::min((0.5f - overhang) * size, 0.5f * n), hi = std::max(n - lo, 0.5f * n);
    const int x0 = object.field.x0, y0 = object.field.y0;
    for (int attempt = 0; attempt < kPositionsPerSize; ++attempt) {
      const int cx = static_cast<int>(std::floor(rng.uniform(lo, hi))),
                cy = static_cast<int>(std::floor(rng.uniform(lo, hi)));
      object.field.x0 = x0 + cx, object.field.y0 = y0 + cy;
      if (!placement_ok(object, placed, owner, options.image_size, options.min_visible_fraction)) continue;
      const Point centre{subpixel.x + static_cast<float>(cx), subpixel.y + static_cast<float>(cy)};
      const Color fill = contrasting_color(rng, mean_under(canvas, object.field), rng.uniform(25, 120));
      object.paint = random_paint(rng, fill, centre, size);
      claim(std::move(object), placed, owner, options.image_size);
      return;
    }
  }
}

// The image's own random stream: SplitMix64 steps over (seed, split, index).
Generator image_generator(std::uint64_t seed, ShapesSplit split, int index) {
  Generator mixer(seed);
  mixer.set_state(mixer.next_u64() ^ (split == ShapesSplit::Train ? 0x747261696EULL : 0x76616CULL));
  mixer.set_state(mixer.next_u64() ^ static_cast<std::uint64_t>(index));
  return Generator(mixer.next_u64());
}

// The annotation of object `index`: the pixels it owns, their tight box and count.
ShapeObject annotation(const PlacedObject& placed, int index, const OwnerMap& owner, int size) {
  ShapeObject o;
  o.category_id = placed.category_id;
  o.mask.assign(owner.size(), 0);
  int x0 = size, y0 = size, x1 = -1, y1 = -1;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      if (const std::size_t at = static_cast<std::size_t>(y) * size + x; owner[at] == index) {
        o.mask[at] = 1;
        x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
      }
  o.x = x0, o.y = y0, o.width = x1 - x0 + 1, o.height = y1 - y0 + 1;
  o.area = placed.visible;
  return o;
}

void check_options(const ShapesOptions& o) {
  GHM_CHECK(o.image_size >= 32 && o.image_size <= 4096, "shapes: image_size ", o.image_size, " is outside 32..4096");
  GHM_CHECK(o.max_objects >= 1 && o.max_objects <= 64, "shapes: max_objects ", o.max_objects, " is outside 1..64");
  GHM_CHECK(o.empty_fraction >= 0 && o.empty_fraction <= 1, "shapes: empty_fraction ", o.empty_fraction,
            " is outside [0, 1]");
  GHM_CHECK(o.min_visible_fraction > 0 && o.min_visible_fraction <= 1, "shapes: min_visible_fraction ",
            o.min_visible_fraction, " is outside (0, 1]");
}

}  // namespace

const std::vector<std::string>& shape_class_names() {
  static const std::vector<std::string> names = {"circle", "square", "triangle", "star", "hexagon", "ring", "cross"};
  return names;
}

const char* shapes_split_name(ShapesSplit split) { return split == ShapesSplit::Train ? "train" : "val"; }

int shapes_max_object_size(int image_size) {
  return std::min(kMaxObjectSize, static_cast<int>(kMaxObjectFraction * static_cast<float>(image_size)));
}

ShapesImage generate_shapes_image(const ShapesOptions& options, std::uint64_t seed, ShapesSplit split, int index) {
  check_options(options);
  Generator rng = image_generator(seed, split, index);
  const int size = options.image_size;
  Canvas canvas{size, std::vector<float>(static_cast<std::size_t>(size) * size * 3)};
  paint_background(canvas, rng);
  paint_distractors(canvas, rng);

  const bool empty = rng.uniform() < options.empty_fraction;
  const int count = empty ? 0 : 1 + static_cast<int>(rng.next_u64() % static_cast<std::uint64_t>(options.max_objects));
  const int classes = static_cast<int>(shape_class_names().size());
  std::vector<PlacedObject> placed;
  OwnerMap owner(static_cast<std::size_t>(size) * size, -1);
  for (const float object_size : sample_sizes(rng, count, shapes_max_object_size(size))) {
    const int category_id = 1 + static_cast<int>(rng.next_u64() % classes);
    place_object(canvas, rng, options, category_id, object_size, placed, owner);
  }

  std::vector<int> order(placed.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return on_top(placed[b].layer, b, placed[a].layer, a); });
  ShapesImage result;
  for (const int i : order) {
    paint(canvas, placed[i].field, placed[i].paint);
    result.objects.push_back(annotation(placed[i], i, owner, size));
  }
  result.image = quantize_with_noise(canvas, rng, rng.uniform(1.0f, 8.0f));
  return result;
}

}  // namespace ghm::io
