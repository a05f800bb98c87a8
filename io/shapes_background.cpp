// The background and clutter of a shapes image (see shapes_background.h): textures, the light map,
// the gradient background, and the distractors (unit-frame shapes of no class, pen strokes,
// scribbled text, noise patches).
#include "io/shapes_background.h"

#include <stb/stb_perlin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"
#include "io/draw.h"

namespace ghm::io::shapes {
namespace {

enum class TextureKind { None, Stripes, Checker, Perlin, Marble };
constexpr int kTextureKinds = 5;

// A texture value in [0, 1] at pixel (x, y); which texture and its parameters are drawn per image.
struct Texture {
  TextureKind kind = TextureKind::None;
  float period = 8, z = 0;  // feature size in pixels; z picks a slice of the 3-d Perlin noise
  Point direction{1, 0};

  float at(float x, float y) const {
    const float u = x * direction.x + y * direction.y, v = -x * direction.y + y * direction.x;
    switch (kind) {
      case TextureKind::None: return 0;
      case TextureKind::Stripes: return 0.5f + 0.5f * std::sin(2 * kPi * u / period);
      case TextureKind::Checker:
        return 0.5f + 0.5f * std::tanh(4 * std::sin(kPi * u / period) * std::sin(kPi * v / period));
      case TextureKind::Perlin:
        return std::clamp(0.5f + 0.7f * stb_perlin_fbm_noise3(x / period, y / period, z, 2.0f, 0.5f, 4), 0.0f, 1.0f);
      case TextureKind::Marble:
        return 0.5f +
               0.5f * std::sin(2 * u / period + 5 * stb_perlin_turbulence_noise3(x / 32, y / 32, z, 2.0f, 0.5f, 3));
    }
    return 0;
  }
};

// A slow brightness variation, 1 + amount * Perlin noise of 48-pixel features, [size, size]. The
// noise is sampled every kStep pixels and interpolated bilinearly: it changes too slowly for the
// difference to show, and the full-resolution noise would cost more than the rest of the image.
std::vector<float> light_map(int size, float z, float amount) {
  constexpr int kStep = 8;
  constexpr float kFeature = 48;
  const int grid = size / kStep + 2;
  std::vector<float> coarse(static_cast<std::size_t>(grid) * grid);
  for (int j = 0; j < grid; ++j)
    for (int i = 0; i < grid; ++i)
      coarse[static_cast<std::size_t>(j) * grid + i] = stb_perlin_noise3(
          static_cast<float>(i * kStep) / kFeature, static_cast<float>(j * kStep) / kFeature, z, 0, 0, 0);
  std::vector<float> light(static_cast<std::size_t>(size) * size);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const int i = x / kStep, j = y / kStep;
      const float fx = static_cast<float>(x % kStep) / kStep, fy = static_cast<float>(y % kStep) / kStep;
      const float* c = &coarse[static_cast<std::size_t>(j) * grid + i];
      const float top = c[0] + (c[1] - c[0]) * fx, bottom = c[grid] + (c[grid + 1] - c[grid]) * fx;
      light[static_cast<std::size_t>(y) * size + x] = 1 + amount * (top + (bottom - top) * fy);
    }
  return light;
}

// A few characters of stb_easy_font text, hard-edged, partly transparent.
void paint_scribble(Canvas& canvas, Generator& rng) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789=+-/";
  std::string text(2 + rng.next_u64() % 7, ' ');
  for (char& c : text) c = kAlphabet[rng.next_u64() % (sizeof(kAlphabet) - 1)];
  Image stencil(canvas.size, canvas.size);
  const int x = static_cast<int>(rng.uniform(-10, static_cast<float>(canvas.size)));
  const int y = static_cast<int>(rng.uniform(-5, static_cast<float>(canvas.size)));
  draw_text(stencil, x, y, text, Rgb{255, 255, 255}, 1 + static_cast<int>(rng.next_u64() % 2));
  const Color ink = random_color(rng);
  const float alpha = rng.uniform(0.5f, 1.0f);
  for (int py = 0; py < canvas.size; ++py)
    for (int px = 0; px < canvas.size; ++px)
      if (stencil.pixel(py, px)[0] != 0) {
        float* c = canvas.at(px, py);
        for (int k = 0; k < 3; ++k) c[k] += (ink[k] - c[k]) * alpha;
      }
}

// A rectangle of per-pixel random colours blended over the canvas.
void paint_noise_patch(Canvas& canvas, Generator& rng) {
  const int w = 6 + static_cast<int>(rng.next_u64() % 40), h = 6 + static_cast<int>(rng.next_u64() % 40);
  const int x0 = static_cast<int>(rng.uniform(static_cast<float>(-w / 2), static_cast<float>(canvas.size)));
  const int y0 = static_cast<int>(rng.uniform(static_cast<float>(-h / 2), static_cast<float>(canvas.size)));
  const Color tint = random_color(rng);
  const float alpha = rng.uniform(0.3f, 0.8f);
  for (int y = std::max(y0, 0); y < std::min(y0 + h, canvas.size); ++y)
    for (int x = std::max(x0, 0); x < std::min(x0 + w, canvas.size); ++x) {
      const Color c = mix(tint, random_color(rng), 0.6f);
      float* px = canvas.at(x, y);
      for (int k = 0; k < 3; ++k) px[k] += (c[k] - px[k]) * alpha;
    }
}

// Things that belong to no class, in their unit frame: crescents, open arcs, bars, long ellipses, blobs.
Region distractor_shape(Generator& rng) {
  switch (rng.next_u64() % 5) {
    case 0:
      return {{Ellipse{}},
              {Ellipse{{rng.uniform(0.35f, 0.7f), 0}, rng.uniform(0.75f, 1.0f), rng.uniform(0.75f, 1.0f)}}};
    case 1: {
      const float cut_x = rng.uniform(-0.3f, 0.4f), inner = rng.uniform(0.5f, 0.8f);
      return {{Ellipse{}}, {Ellipse{{}, inner, inner}, Polygon{{{cut_x, -2}, {2, -2}, {2, 2}, {cut_x, 2}}}}};
    }
    case 2: {
      const float h = rng.uniform(0.08f, 0.3f);
      return {{Polygon{{{-1, -h}, {1, -h}, {1, h}, {-1, h}}}}, {}};
    }
    case 3: return {{Ellipse{{}, 1, rng.uniform(0.2f, 0.5f)}}, {}};
    default: {
      const float a2 = rng.uniform(0.12f, 0.3f), a3 = rng.uniform(0.08f, 0.25f), a5 = rng.uniform(0.0f, 0.12f);
      const float p2 = rng.uniform(0, 2 * kPi), p3 = rng.uniform(0, 2 * kPi), p5 = rng.uniform(0, 2 * kPi);
      return {{star_polygon(24, 0, 1, [&](int k) {
                 const float a = 2 * kPi * static_cast<float>(k) / 24;
                 return 1 + a2 * std::sin(2 * a + p2) + a3 * std::sin(3 * a + p3) + a5 * std::sin(5 * a + p5);
               })},
              {}};
    }
  }
}

// A pen stroke: a polyline of 2 to 4 segments, 0.6 to 2 pixels in radius, in image coordinates.
Region stroke_shape(Generator& rng, int image_size) {
  const float radius = rng.uniform(0.6f, 2.0f), step = rng.uniform(8.0f, 0.3f * static_cast<float>(image_size));
  Point p{rng.uniform(0, static_cast<float>(image_size)), rng.uniform(0, static_cast<float>(image_size))};
  float heading = rng.uniform(0, 2 * kPi);
  Region stroke;
  for (int segments = 2 + static_cast<int>(rng.next_u64() % 3); segments > 0; --segments) {
    const Point next{p.x + step * std::cos(heading), p.y + step * std::sin(heading)};
    stroke.add.push_back(Capsule{p, next, radius});
    p = next;
    heading += rng.uniform(-1.5f, 1.5f);
  }
  return stroke;
}

}  // namespace

void paint_background(Canvas& canvas, Generator& rng) {
  const Color from = random_color(rng), to = random_color(rng), detail = random_color(rng);
  const Point gradient = random_direction(rng);
  const Texture texture{static_cast<TextureKind>(rng.next_u64() % kTextureKinds), rng.uniform(3.0f, 20.0f),
                        rng.uniform(0, 255), random_direction(rng)};
  const float detail_amount = rng.uniform(0.15f, 0.7f), light_amount = rng.uniform(0.0f, 0.25f);
  const std::vector<float> light = light_map(canvas.size, rng.uniform(0, 255), light_amount);
  const float n = static_cast<float>(canvas.size);
  for (int y = 0; y < canvas.size; ++y)
    for (int x = 0; x < canvas.size; ++x) {
      const float fx = static_cast<float>(x), fy = static_cast<float>(y);
      const float t = std::clamp(0.5f + ((fx - n / 2) * gradient.x + (fy - n / 2) * gradient.y) / n, 0.0f, 1.0f);
      const Color base = mix(mix(from, to, t), detail, detail_amount * texture.at(fx, fy));
      const float l = light[static_cast<std::size_t>(y) * canvas.size + x];
      float* px = canvas.at(x, y);
      for (int k = 0; k < 3; ++k) px[k] = std::clamp(base[k] * l, 0.0f, 255.0f);
    }
}

void paint_distractors(Canvas& canvas, Generator& rng, int max_count) {
  GHM_CHECK(max_count >= 1, "paint_distractors: max_count ", max_count, " must be at least 1");
  const float n = static_cast<float>(canvas.size);
  for (int count = 1 + static_cast<int>(rng.next_u64() % static_cast<std::uint64_t>(max_count)); count > 0; --count) {
    const std::uint64_t kind = rng.next_u64() % 8;
    if (kind == 0) {
      paint_scribble(canvas, rng);
    } else if (kind == 1) {
      paint_noise_patch(canvas, rng);
    } else {
      const float size = std::exp(rng.uniform(std::log(6.0f), std::log(0.7f * n)));
      const Point centre{rng.uniform(0, n), rng.uniform(0, n)};
      const Region region = kind == 2 ? stroke_shape(rng, canvas.size)
                                      : place(distractor_shape(rng), rng.uniform(0, 2 * kPi), size, centre);
      const Field field = rasterize(region);
      const Color fill = contrasting_color(rng, mean_under(canvas, field), rng.uniform(20, 110));
      paint(canvas, field, random_paint(rng, fill, centre, size));
    }
  }
}

}  // namespace ghm::io::shapes
