// The classification set (see shape_classification.h): the background and distractors of the
// detection data, one class shape painted in its family's style, pixel noise.
#include "io/shape_classification.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/random.h"
#include "io/shapes.h"
#include "io/shapes_background.h"
#include "io/shapes_geometry.h"
#include "io/shapes_paint.h"

namespace ghm::io {
namespace {

using namespace shapes;

// Fewer things that belong to no class than a detection image has: the image has one object to
// find, which makes the first steps of learning far faster.
constexpr int kMaxClassificationDistractors = 3;

const char* const kFamilyNames[kPaintFamilies] = {"flat", "striped", "outlined", "gradient"};

// The paint of family `family` for a shape of longest side `size` centred at `origin`.
Paint family_paint(int family, Generator& rng, const Color& fill, Point origin, float size) {
  Paint p;
  p.fill = fill, p.origin = origin, p.size = size;
  p.shade = rng.uniform(-0.2f, 0.2f), p.shade_direction = random_direction(rng);
  switch (family) {
    case 1:  // striped: period from 3 px to a third of the size, strong contrast
      p.second = contrasting_color(rng, fill, 120), p.stripe_amount = rng.uniform(0.7f, 1.0f);
      p.stripe_period = rng.uniform(3.0f, std::max(4.0f, size / 3)), p.stripe_direction = random_direction(rng);
      break;
    case 2:  // outlined
      p.outline = contrasting_color(rng, fill, 120);
      p.outline_width = std::max(1.5f, size * rng.uniform(0.08f, 0.14f));
      break;
    case 3:  // gradient: half a stripe period across the object, centred on it
      p.second = contrasting_color(rng, fill, 120), p.stripe_amount = 1;
      p.stripe_period = 2 * size, p.stripe_direction = random_direction(rng);
      break;
    default: break;  // flat
  }
  return p;
}

// The image's own random stream: SplitMix64 steps over (seed, a tag of this set and split, index).
Generator image_generator(std::uint64_t seed, ClassificationSplit split, std::int64_t index) {
  Generator mixer(seed);
  mixer.set_state(mixer.next_u64() ^ (split == ClassificationSplit::Train ? 0x636C732D7472ULL : 0x636C732D76ULL));
  mixer.set_state(mixer.next_u64() ^ static_cast<std::uint64_t>(index));
  return Generator(mixer.next_u64());
}

}  // namespace

int classification_class_count() { return static_cast<int>(shape_class_names().size()) * kPaintFamilies; }

std::string classification_class_name(int label) {
  GHM_CHECK(label >= 0 && label < classification_class_count(), "classification label ", label, " is outside [0, ",
            classification_class_count(), ")");
  return shape_class_names()[static_cast<std::size_t>(label / kPaintFamilies)] + "/" +
         kFamilyNames[label % kPaintFamilies];
}

ClassificationImage generate_classification_image(int image_size, std::uint64_t seed, ClassificationSplit split,
                                                  std::int64_t index) {
  GHM_CHECK(image_size >= 32 && image_size <= 1024, "classification image_size ", image_size, " is outside 32..1024");
  GHM_CHECK(index >= 0, "classification image index ", index, " is negative");
  ClassificationImage out;
  out.label = static_cast<int>(index % classification_class_count());
  Generator rng = image_generator(seed, split, index);
  const float n = static_cast<float>(image_size);
  Canvas canvas{image_size, std::vector<float>(static_cast<std::size_t>(image_size) * image_size * 3)};
  paint_background(canvas, rng);
  paint_distractors(canvas, rng, kMaxClassificationDistractors);

  const Region shape = class_shape(out.label / kPaintFamilies, rng);
  const float size = std::exp(rng.uniform(std::log(0.3f * n), std::log(0.9f * n)));
  const float angle = rng.uniform(0, 2 * kPi);
  // The box of a rotated shape is at most its size on each side: centres in [size/2, n - size/2].
  const Point centre{rng.uniform(0.5f * size, n - 0.5f * size), rng.uniform(0.5f * size, n - 0.5f * size)};
  const Field field = rasterize(place(shape, angle, size, centre));
  const Color fill = contrasting_color(rng, mean_under(canvas, field), rng.uniform(40, 120));
  paint(canvas, field, family_paint(out.label % kPaintFamilies, rng, fill, centre, size));
  out.image = quantize_with_noise(canvas, rng, rng.uniform(1.0f, 6.0f));
  return out;
}

}  // namespace ghm::io
