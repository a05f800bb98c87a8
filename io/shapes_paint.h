// Painting for the shapes generator (internal to io/; the dataset is io/shapes.h): the float
// canvas, colours, and how a rasterised shape (a Field, shapes_geometry.h) is painted onto it.
//
// The canvas is [H, W, 3] floats in 0..255; a shape blends in as
//     colour = c + (paint - c) * coverage,   coverage = clamp(0.5 - d, 0, 1)
// where the paint is a fill shaded linearly across the shape, optionally striped, optionally with
// an outline band inside the edge. Pixel noise and rounding to bytes come last (shapes.cpp).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

#include "core/random.h"
#include "io/image.h"
#include "io/shapes_geometry.h"

namespace ghm::io::shapes {

using Color = std::array<float, 3>;  // R, G, B in 0..255

struct Canvas {
  int size = 0;
  std::vector<float> rgb;  // [size, size, 3]
  float* at(int x, int y) { return rgb.data() + (static_cast<std::size_t>(y) * size + x) * 3; }
  const float* at(int x, int y) const { return rgb.data() + (static_cast<std::size_t>(y) * size + x) * 3; }
};

inline Color random_color(Generator& rng) { return {rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)}; }

inline Color mix(const Color& a, const Color& b, float t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}

inline Point random_direction(Generator& rng) {
  const float a = rng.uniform(0, 2 * kPi);
  return {std::cos(a), std::sin(a)};
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

  // The paint at `p`, `distance` from the outline (negative inside).
  Color at(Point p, float distance) const;
};

// A random paint for a shape of longest side `size` centred at `origin`, filled with `fill`.
Paint random_paint(Generator& rng, const Color& fill, Point origin, float size);

// Blends `style` onto the canvas by the field's coverage, over the part of the field in the image.
void paint(Canvas& canvas, const Field& field, const Paint& style);

// The mean canvas colour over the pixels a field covers (grey when it covers none in the image).
Color mean_under(const Canvas& canvas, const Field& field);

// A random colour at least `min_distance` from `under` (the farthest of 24 tries if none is).
Color contrasting_color(Generator& rng, const Color& under, float min_distance);

// The canvas rounded to bytes after adding near-Gaussian pixel noise of standard deviation `sigma`.
Image quantize_with_noise(const Canvas& canvas, Generator& rng, float sigma);

}  // namespace ghm::io::shapes
