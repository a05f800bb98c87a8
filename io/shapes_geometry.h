// Geometry and rasterising for the shapes generator (internal to io/; the dataset is io/shapes.h).
//
// Every shape is a Region: a union of primitives (polygons, ellipses, capsules) minus another
// union, with the signed distance
//     d(p) = max(min_i d_add_i(p), -min_j d_cut_j(p))         (negative inside, in pixels)
// Polygons use the exact distance to their edges with an even-odd inside test, so non-convex ones
// (stars, crosses) have no seams; ellipses use the first-order estimate d = k0 (k0 - 1) / k1,
// k0 = |q / r|, k1 = |q / r^2|, exact for circles and accurate within a pixel of the outline,
// which is all that coverage needs. A shape is built in its own unit frame, then rotated, scaled
// so that its bounding box's longest side is the sampled size, and moved (place).
//
// Rasterising evaluates d at the pixel centres (x + 0.5, y + 0.5) of a window around the shape,
// once per shape and sub-pixel offset; trying placements then only shifts that window by whole
// pixels, so rejected placements cost no geometry. A pixel's coverage is clamp(0.5 - d, 0, 1).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <variant>
#include <vector>

#include "core/random.h"

namespace ghm::io::shapes {

constexpr float kPi = 3.14159265358979f;

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

// Rotates `region` by `angle`, scales it so that its bounding box's longest side is `size` pixels,
// and centres that box on `centre`.
Region place(Region region, float angle, float size, Point centre);

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

inline float coverage(float distance) { return std::clamp(0.5f - distance, 0.0f, 1.0f); }

// The field of `region` over its bounding box and a pixel of margin.
Field rasterize(const Region& region);

// Class `class_index` of the shapes data (0..6: circle, square, triangle, star, hexagon, ring,
// cross; io/shapes.h names them) in its unit frame, each instance varied a little (aspect within
// 10%, star depth, ring width, arm width, triangle angles), so no two are pixel-identical.
Region class_shape(int class_index, Generator& rng);

}  // namespace ghm::io::shapes
