// Drawing onto an io::Image: rectangles, lines, text and labelled detection boxes, as the
// `detect` command draws its results and io/plot.h draws its charts. Everything is clipped to the
// image; nothing is blended (pixels are overwritten with the colour).
//
// Coordinates. Pixel (x, y) covers the square [x, x+1) x [y, y+1), as in COCO. A box given as
// floats (x1, y1, x2, y2) covers the pixels whose centres lie inside it, so the integer box
// (10, 20, 30, 40) covers columns 10..29 and rows 20..39; a box thinner than a pixel still covers
// one. Integer rectangles are half-open: [x0, x1) x [y0, y1). A point (x, y) lies in pixel
// (floor(x), floor(y)); the centre of pixel (i, j) is (i + 0.5, j + 0.5).
//
// Text uses stb_easy_font, a 1-pixel-stroke vector font of ASCII characters built from
// axis-aligned quads; `scale` s draws each font unit as an s x s block. A line is 9 units tall
// (descenders included) and lines are 12 units apart; characters outside printable ASCII are
// drawn as '?'.
#pragma once

#include <cstdint>
#include <string_view>

#include "io/image.h"

namespace ghm::io {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

struct TextExtent {
  int width = 0;   // pixels
  int height = 0;  // pixels
};

// Overwrites the pixels of [x0, x1) x [y0, y1) that lie inside the image.
void fill_rectangle(Image& image, int x0, int y0, int x1, int y1, Rgb color);

// The outline of the box (x1, y1, x2, y2), `thickness` pixels wide, drawn inside the box's pixels.
// Throws on non-finite coordinates or thickness < 1.
void draw_rectangle(Image& image, float x1, float y1, float x2, float y2, Rgb color, int thickness);

// A straight segment from (x0, y0) to (x1, y1), not anti-aliased: the points at unit steps along
// its longer axis (both ends included) each colour the thickness x thickness square of pixels
// centred on the pixel they lie in, so a 1-pixel line is 8-connected. Clipped to the image (a
// segment far outside costs nothing). Throws on non-finite coordinates or thickness < 1.
void draw_line(Image& image, float x0, float y0, float x1, float y1, Rgb color, int thickness = 1);

// The size draw_text covers for `text` at `scale` (1..64); {0, 0} for empty text.
TextExtent text_extent(std::string_view text, int scale);

// Text whose top-left corner is (x, y). Throws when scale is outside 1..64.
void draw_text(Image& image, int x, int y, std::string_view text, Rgb color, int scale);

// A detection: the box outline, and `label` (e.g. "circle 0.93") in black or white, whichever
// reads better, on a filled background of `color` just above the box's top-left corner; when there
// is no room above, the label goes inside the top of the box. The label is kept inside the image.
void label_box(Image& image, float x1, float y1, float x2, float y2, std::string_view label, Rgb color,
               int thickness = 2, int text_scale = 1);

// A bright colour for class `label` (any int): hues spaced by the golden ratio, so consecutive
// labels are far apart on the colour wheel.
Rgb class_color(int label);

}  // namespace ghm::io
