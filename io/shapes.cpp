// The shapes generator (what an image contains is described in shapes.h).
//
// Geometry. Every shape is a Region: a union of primitives (polygons, ellipses, capsules) minus
// another union, with the signed distance
//     d(p) = max(min_i d_add_i(p), -min_j d_cut_j(p))         (negative inside, in pixels)
// Polygons use the exact distance to their edges with an even-odd inside test, so non-convex ones
// (stars, crosses) have no seams; ellipses use the first-order estimate d = k0 (k0 - 1) / k1,
// k0 = |q / r|, k1 = |q / r^2|, exact for circles and accurate within a pixel of the outline,
// which is all that coverage needs. A shape is built in its own unit frame, then rotated, scaled
// so that its bounding box's longest side is the sampled size, and moved.
//
// Rasterising evaluates d at the pixel centres (x + 0.5, y + 0.5) of a window around the shape,
// once per shape and sub-pixel offset; trying placements then only shifts that window by whole
// pixels, so rejected placements cost no geometry.
//
// Painting works on a float canvas [H, W, 3] in 0..255: colour = c + (paint - c) * coverage,
// coverage = clamp(0.5 - d, 0, 1). Pixel noise and rounding to bytes come last.
//
// Randomness: one ghm::Generator per image, seeded from (seed, split, index) by SplitMix64 steps;
// nothing is shared between images, so any number of threads gives the same bytes.
#include "io/shapes.h"

#include <stb/stb_perlin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <variant>

#include "core/check.h"
#include "core/random.h"
#include "io/draw.h"

namespace ghm::io {
namespace {

constexpr float kPi = 3.14159265358979f;
constexpr int kMaxObjectSize = 128;
constexpr float kMaxObjectFraction = 0.8f;  // of the image side
constexpr float kLargeObjectShare = 0.3f;   // of objects with a size near the largest
constexpr int kShrinkSteps = 3;             // placement: sizes tried per object (each 0.75x the last)
constexpr int kPositionsPerSize = 12;       // placement: positions tried per size
constexpr float kBorderOverhang = 0.15f;    // of an object's size, how far its box may leave the image
constexpr int kMaxDistractors = 7;

using Color = std::array<float, 3>;  // R, G, B in 0..255

// ---- geometry ------------------------------------------------------------------------------------

struct Point {
  float x = 0, y = 0;
};

struct Polygon {
  std::vector<Point> vertices;  // a closed outline, no repeated vertex
};

struct Ellipse {
  Point centre;
  float rx = 1, ry = 1;
  Point axis{1, 0};  // unit direction of the rx semi-axis
};

struct Capsule {  // all points within `radius` of the segment a-b
  Point a, b;
  float radius = 1;
};

using Primitive = std::variant<Polygon, Ellipse, Capsule>;

struct Region {
  std::vector<Primitive> add, cut;
};

struct Box {
  float x0 = std::numeric_limits<float>::max(), y0 = std::numeric_limits<float>::max();
  float x1 = std::numeric_limits<float>::lowest(), y1 = std::numeric_limits<float>::lowest();
  void include(float x, float y, float margin = 0) {
    x0 = std::min(x0, x - margin), y0 = std::min(y0, y - margin);
    x1 = std::max(x1, x + margin), y1 = std::max(y1, y + margin);
  }
  float longest_side() const { return std::max(x1 - x0, y1 - y0); }
};

float signed_distance(const Polygon& polygon, Point q) {
  const std::vector<Point>& v = polygon.vertices;
  float nearest_sq = std::numeric_limits<float>::max();
  bool inside = false;
  for (std::size_t i = 0, j = v.size() - 1; i < v.size(); j = i++) {
    const float ex = v[i].x - v[j].x, ey = v[i].y - v[j].y;
    const float wx = q.x - v[j].x, wy = q.y - v[j].y;
    const float t = std::clamp((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0f, 1.0f);
    const float dx = wx - ex * t, dy = wy - ey * t;
    nearest_sq = std::min(nearest_sq, dx * dx + dy * dy);
    if ((v[j].y > q.y) != (v[i].y > q.y) && q.x < v[j].x + wy * ex / ey) inside = !inside;
  }
  return inside ? -std::sqrt(nearest_sq) : std::sqrt(nearest_sq);
}

float signed_distance(const Ellipse& e, Point q) {
  const float dx = q.x - e.centre.x, dy = q.y - e.centre.y;
  const float u = e.axis.x * dx + e.axis.y * dy, v = -e.axis.y * dx + e.axis.x * dy;
  const float k0 = std::hypot(u / e.rx, v / e.ry), k1 = std::hypot(u / (e.rx * e.rx), v / (e.ry * e.ry));
  return k1 > 0 ? k0 * (k0 - 1) / k1 : -std::min(e.rx, e.ry);
}

float signed_distance(const Capsule& c, Point q) {
  const float ex = c.b.x - c.a.x, ey = c.b.y - c.a.y, wx = q.x - c.a.x, wy = q.y - c.a.y;
  const float length_sq = ex * ex + ey * ey;
  const float t = length_sq > 0 ? std::clamp((wx * ex + wy * ey) / length_sq, 0.0f, 1.0f) : 0.0f;
  return std::hypot(wx - ex * t, wy - ey * t) - c.radius;
}

float union_distance(const std::vector<Primitive>& primitives, Point q) {
  float d = std::numeric_limits<float>::max();
  for (const Primitive& p : primitives)
    d = std::min(d, std::visit([&](const auto& s) { return signed_distance(s, q); }, p));
  return d;
}

float signed_distance(const Region& region, Point q) {
  const float d = union_distance(region.add, q);
  return region.cut.empty() ? d : std::max(d, -union_distance(region.cut, q));
}

void include_in(Box& box, const Polygon& p) {
  for (const Point& v : p.vertices) box.include(v.x, v.y);
}
void include_in(Box& box, const Ellipse& e) {
  const float hx = std::hypot(e.rx * e.axis.x, e.ry * e.axis.y), hy = std::hypot(e.rx * e.axis.y, e.ry * e.axis.x);
  box.include(e.centre.x - hx, e.centre.y - hy);
  box.include(e.centre.x + hx, e.centre.y + hy);
}
void include_in(Box& box, const Capsule& c) {
  box.include(c.a.x, c.a.y, c.radius);
  box.include(c.b.x, c.b.y, c.radius);
}

// The bounding box of the added primitives (cuts can only make the region smaller).
Box bounds(const Region& region) {
  Box box;
  for (const Primitive& p : region.add) std::visit([&](const auto& s) { include_in(box, s); }, p);
  return box;
}

// p -> scale * R(angle) * p + offset, applied to every primitive of a region.
struct Similarity {
  float scale = 1, cos_a = 1, sin_a = 0;
  Point offset;

  Point apply(Point p) const {
    return {scale * (cos_a * p.x - sin_a * p.y) + offset.x, scale * (sin_a * p.x + cos_a * p.y) + offset.y};
  }
  void transform(Polygon& p) const {
    for (Point& v : p.vertices) v = apply(v);
  }
  void transform(Ellipse& e) const {
    e.centre = apply(e.centre), e.rx *= scale, e.ry *= scale;
    e.axis = {cos_a * e.axis.x - sin_a * e.axis.y, sin_a * e.axis.x + cos_a * e.axis.y};
  }
  void transform(Capsule& c) const { c.a = apply(c.a), c.b = apply(c.b), c.radius *= scale; }
  void transform(Region& region) const {
    for (auto* list : {&region.add, &region.cut})
      for (Primitive& p : *list) std::visit([&](auto& s) { transform(s); }, p);
  }
};

// Rotates `region` by `angle`, scales it so that its bounding box's longest side is `size` pixels,
// and centres that box on `centre`.
Region place(Region region, float angle, float size, Point centre) {
  Similarity rotate{1, std::cos(angle), std::sin(angle), {}};
  rotate.transform(region);
  const Box box = bounds(region);
  const float scale = size / box.longest_side();
  Similarity fit{
      scale, 1, 0, {centre.x - scale * 0.5f * (box.x0 + box.x1), centre.y - scale * 0.5f * (box.y0 + box.y1)}};
  fit.transform(region);
  return region;
}

// ---- the shapes ----------------------------------------------------------------------------------

// n vertices at angles start + 2 pi k / n, radius(k) from the centre, y squeezed by `aspect`.
template <class RadiusOf>
Polygon star_polygon(int n, float start, float aspect, RadiusOf radius) {
  Polygon p;
  for (int k = 0; k < n; ++k) {
    const float a = start + 2 * kPi * static_cast<float>(k) / static_cast<float>(n);
    p.vertices.push_back({radius(k) * std::cos(a), aspect * radius(k) * std::sin(a)});
  }
  return p;
}

Polygon plus_polygon(float half_width, float aspect) {
  const float a = half_width;
  Polygon p{
      {{a, 1}, {a, a}, {1, a}, {1, -a}, {a, -a}, {a, -1}, {-a, -1}, {-a, -a}, {-1, -a}, {-1, a}, {-a, a}, {-a, 1}}};
  for (Point& v : p.vertices) v.y *= aspect;
  return p;
}

// A class shape in its unit frame. Every class varies a little (aspect within 10%, star depth,
// ring width, arm width, triangle angles) so that no two instances are pixel-identical.
Region class_shape(int class_index, Generator& rng) {
  const float aspect = rng.uniform(0.9f, 1.1f);
  const auto unit = [](int) { return 1.0f; };
  switch (class_index) {
    case 0: return {{Ellipse{{}, 1, aspect}}, {}};                                   // circle
    case 1: return {{star_polygon(4, kPi / 4, aspect, unit)}, {}};                   // square
    case 2: {                                                                        // triangle
      const float jitter[3] = {0, rng.uniform(-0.25f, 0.25f), rng.uniform(-0.25f, 0.25f)};
      Polygon p;
      for (int k = 0; k < 3; ++k) {
        const float a = -kPi / 2 + 2 * kPi * static_cast<float>(k) / 3 + jitter[k];
        p.vertices.push_back({std::cos(a), aspect * std::sin(a)});
      }
      return {{p}, {}};
    }
    case 3: {                                                                        // star
      const float inner = rng.uniform(0.38f, 0.55f);
      return {{star_polygon(10, -kPi / 2, aspect, [&](int k) { return k % 2 == 0 ? 1.0f : inner; })}, {}};
    }
    case 4: return {{star_polygon(6, 0, aspect, unit)}, {}};                         // hexagon
    case 5: {                                                                        // ring
      const float inner = rng.uniform(0.4f, 0.65f);
      return {{Ellipse{{}, 1, aspect}}, {Ellipse{{}, inner, inner * aspect}}};
    }
    default: return {{plus_polygon(rng.uniform(0.22f, 0.38f), aspect)}, {}};        // cross
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

// ---- rasterising ---------------------------------------------------------------------------------

// Signed distances at the pixel centres of a window: pixel (x0 + i, y0 + j) is distance[j * width + i].
struct Field {
  int x0 = 0, y0 = 0, width = 0, height = 0;
  std::vector<float> distance;  // [height, width]

  float at(int x, int y) const {
    const int i = x - x0, j = y - y0;
    if (i < 0 || j < 0 || i >= width || j >= height) return std::numeric_limits<float>::max();
    return distance[static_cast<std::size_t>(j) * width + i];
  }
};

float coverage(float distance) { return std::clamp(0.5f - distance, 0.0f, 1.0f); }

Field rasterize(const Region& region) {
  const Box box = bounds(region);
  Field f;
  f.x0 = static_cast<int>(std::floor(box.x0)) - 1, f.y0 = static_cast<int>(std::floor(box.y0)) - 1;
  f.width = static_cast<int>(std::ceil(box.x1)) + 1 - f.x0, f.height = static_cast<int>(std::ceil(box.y1)) + 1 - f.y0;
  f.distance.resize(static_cast<std::size_t>(f.width) * f.height);
  for (int j = 0; j < f.height; ++j)
    for (int i = 0; i < f.width; ++i)
      f.distance[static_cast<std::size_t>(j) * f.width + i] =
          signed_distance(region, {static_cast<float>(f.x0 + i) + 0.5f, static_cast<float>(f.y0 + j) + 0.5f});
  return f;
}

// ---- painting ------------------------------------------------------------------------------------

struct Canvas {
  int size = 0;
  std::vector<float> rgb;  // [size, size, 3]
  float* at(int x, int y) { return rgb.data() + (static_cast<std::size_t>(y) * size + x) * 3; }
  const float* at(int x, int y) const { return rgb.data() + (static_cast<std::size_t>(y) * size + x) * 3; }
};

Color random_color(Generator& rng) { return {rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)}; }

float color_distance(const Color& a, const Color& b) { return std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]); }

Color mix(const Color& a, const Color& b, float t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}

// How a shape is coloured: a fill shaded linearly across the shape, optionally striped, optionally
// with an outline band `outline_width` pixels wide inside the edge.
struct Paint {
  Color fill{}, second{}, outline{};
  float shade = 0;           // relative brightness change across one shape size
  Point shade_direction{1, 0};
  float stripe_amount = 0, stripe_period = 1;
  Point stripe_direction{1, 0};
  float outline_width = 0;
  Point origin;              // the shape's centre
  float size = 1;            // the shape's longest side

  Color at(Point p, float distance) const {
    const float dx = p.x - origin.x, dy = p.y - origin.y;
    const float brightness = 1 + shade * (dx * shade_direction.x + dy * shade_direction.y) / size;
    Color c{fill[0] * brightness, fill[1] * brightness, fill[2] * brightness};
    if (stripe_amount > 0) {
      const float phase = 2 * kPi * (dx * stripe_direction.x + dy * stripe_direction.y) / stripe_period;
      c = mix(c, second, stripe_amount * (0.5f + 0.5f * std::sin(phase)));
    }
    return outline_width > 0 ? mix(outline, c, coverage(distance + outline_width)) : c;
  }
};

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

// The mean canvas colour over the pixels a field covers (grey when it covers none in the image).
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

// A random colour at least `min_distance` from `under` (the farthest of 24 tries if none is).
Color contrasting_color(Generator& rng, const Color& under, float min_distance) {
  Color best{};
  float best_distance = -1;
  for (int attempt = 0; attempt < 24 && best_distance < min_distance; ++attempt) {
    const Color c = random_color(rng);
    if (const float d = color_distance(c, under); d > best_distance) best = c, best_distance = d;
  }
  return best;
}

Point random_direction(Generator& rng) {
  const float a = rng.uniform(0, 2 * kPi);
  return {std::cos(a), std::sin(a)};
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

// ---- background and clutter ----------------------------------------------------------------------

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

void paint_distractors(Canvas& canvas, Generator& rng) {
  const float n = static_cast<float>(canvas.size);
  for (int count = 1 + static_cast<int>(rng.next_u64() % kMaxDistractors); count > 0; --count) {
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
