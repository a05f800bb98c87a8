// The background and clutter of a shapes image (internal to io/; the dataset is io/shapes.h),
// painted before the objects: what they are is described in shapes.h.
#pragma once

#include "core/random.h"
#include "io/shapes_paint.h"

namespace ghm::io::shapes {

// Covers the canvas with a two-colour gradient mixed with one texture (stripes, soft checker,
// Perlin fbm, marble or none) under a slow brightness variation.
void paint_background(Canvas& canvas, Generator& rng);

// Paints 1 to max_count (uniformly) things that belong to no class: crescents, open arcs, long
// bars and ellipses, lumpy blobs, pen strokes, scribbled text and noise patches.
constexpr int kMaxDistractors = 7;  // of a detection image
void paint_distractors(Canvas& canvas, Generator& rng, int max_count = kMaxDistractors);

}  // namespace ghm::io::shapes
