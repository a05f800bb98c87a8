// Painting a rasterised shape onto the shapes generator's canvas, and choosing its colours
// (see shapes_paint.h).
#include "io/shapes_paint.h"

#include <algorithm>
#include <cmath>

namespace ghm::io::shapes {
namespace {

float color_distance(const Color& a, const Color& b) { return std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]); }

}  // namespace

Color Paint::at(Point p, float distance) const {
  const float dx = p.x - origin.x, dy = p.y - origin.y;
  const float brightness = 1 + shade * (dx * shade_direction.x + dy * shade_direction.y) / size;
  Color c{fill[0] * brightness, fill[1] * brightness, fill[2] * brightness};
  if (stripe_amount > 0) {
    const float phase = 2 * kPi * (dx * stripe_direction.x + dy * stripe_direction.y) / stripe_period;
    c = mix(c, second, stripe_amount * (0.5f + 0.5f * std::sin(phase)));
  }
  return outline_width > 0 ? mix(outline, c, coverage(distance + outline_width)) : c;
}

Paint random_paint(Generator& rng, const Color& fill, Point origin, float size) {
  Paint p;
  p.fill = fill, p.origin = origin, p.size = size;
  p.shade = rng.uniform(-0.35f, 0.35f), p.shade_direction = random_direction(rng);
  if (rng.uniform() < 0.2f) {
    p.second = random_color(rng), p.stripe_amount = rng.uniform(0.2f, 0.6f);
    p.stripe_period = rng.uniform(3.0f, std::max(4.0f, 0.4f * size)), p.stripe_direction = random_direction(rng);
  }
  if (rng.uniform() < 0.3f) {
    p.outline = rng.uniform() < 0.5f ? mix(fill, Color{0, 0, 0}, 0.6f) : mix(fill, Color{255, 255, 255}, 0.6f);
    p.outline_width = std::max(1.0f, size * rng.uniform(0.03f, 0.08f));
  }
  return p;
}

void paint(Canvas& canvas, const Field& field, const Paint& style) {
  const int x_begin = std::max(field.x0, 0), x_end = std::min(field.x0 + field.width, canvas.size);
  const int y_begin = std::max(field.y0, 0), y_end = std::min(field.y0 + field.height, canvas.size);
  for (int y = y_begin; y < y_end; ++y)
    for (int x = x_begin; x < x_end; ++x) {
      const float d = field.at(x, y), alpha = coverage(d);
      if (alpha <= 0) continue;
      const Color c = style.at({static_cast<float>(x) + 0.5f, static_cast<float>(y) + 0.5f}, d);
      float* px = canvas.at(x, y);
      for (int k = 0; k < 3; ++k) px[k] += (std::clamp(c[k], 0.0f, 255.0f) - px[k]) * alpha;
    }
}

Color mean_under(const Canvas& canvas, const Field& field) {
  Color sum{0, 0, 0};
  int count = 0;
  for (int y = std::max(field.y0, 0); y < std::min(field.y0 + field.height, canvas.size); ++y)
    for (int x = std::max(field.x0, 0); x < std::min(field.x0 + field.width, canvas.size); ++x)
      if (field.at(x, y) <= 0) {
        const float* px = canvas.at(x, y);
        for (int k = 0; k < 3; ++k) sum[k] += px[k];
        ++count;
      }
  if (count == 0) return {128, 128, 128};
  return {sum[0] / static_cast<float>(count), sum[1] / static_cast<float>(count), sum[2] / static_cast<float>(count)};
}

Color contrasting_color(Generator& rng, const Color& under, float min_distance) {
  Color best{};
  float best_distance = -1;
  for (int attempt = 0; attempt < 24 && best_distance < min_distance; ++attempt) {
    const Color c = random_color(rng);
    if (const float d = color_distance(c, under); d > best_distance) best = c, best_distance = d;
  }
  return best;
}

// Rounds the canvas to bytes after adding near-Gaussian noise of standard deviation `sigma`: the sum
// of four uniforms on [-a, a), a = 32768, whose variance is 4 a^2 / 3.
Image quantize_with_noise(const Canvas& canvas, Generator& rng, float sigma) {
  Image image(canvas.size, canvas.size);
  const float unit = sigma * std::sqrt(3.0f) / (2 * 32768.0f);
  for (std::size_t i = 0; i < image.data.size(); ++i) {
    const std::uint64_t bits = rng.next_u64();
    float sum = 0;
    for (int k = 0; k < 4; ++k) sum += static_cast<float>(static_cast<int>((bits >> (16 * k)) & 0xFFFF) - 32768);
    image.data[i] = static_cast<std::uint8_t>(std::clamp(std::lround(canvas.rgb[i] + sum * unit), 0L, 255L));
  }
  return image;
}

}  // namespace ghm::io::shapes
