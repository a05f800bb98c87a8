// Rectangles, lines, text and labelled boxes (conventions in draw.h).
//
// Lines: the segment is first cut to the image widened by half the thickness (Liang-Barsky), so
// only the visible part is walked; then n = ceil(longer extent) steps of equal length, and a
// thickness x thickness square stamped at each of the n + 1 points.
//
// Text: stb_easy_font_print turns a string into quads, 4 vertices of 16 bytes each
// (x, y, z as floats, then 4 colour bytes); every quad is an axis-aligned rectangle with integer
// corners in font units, with the string's top-left at (0, 0). We scale each quad by `scale`,
// shift it to (x, y) and fill it.
#include "io/draw.h"

#include <stb/stb_easy_font.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"

namespace ghm::io {
namespace {

constexpr int kGlyphHeight = 9;    // font units from the top of a line to the bottom of descenders
constexpr int kLineAdvance = 12;   // font units between lines (stb_easy_font's own step)
constexpr int kMaxQuadsPerChar = 11;  // the most any printable ASCII character uses
constexpr int kBytesPerQuad = 4 * 16;
constexpr int kLabelPadding = 1;  // font units of background around label text
constexpr int kMaxTextScale = 64;

// An axis-aligned quad of stb_easy_font output, in font units: [x0, x1) x [y0, y1).
struct FontQuad {
  int x0, y0, x1, y1;
};

std::vector<FontQuad> font_quads(std::string_view text) {
  std::string printable(text);
  for (char& c : printable)
    if (c != '\n' && (c < 32 || c > 126)) c = '?';
  std::vector<char> vertices((printable.size() + 1) * kMaxQuadsPerChar * kBytesPerQuad);
  const int count = stb_easy_font_print(0.0f, 0.0f, printable.data(), nullptr, vertices.data(),
                                        static_cast<int>(vertices.size()));
  std::vector<FontQuad> quads(static_cast<std::size_t>(count));
  for (int q = 0; q < count; ++q) {
    float corner0[2], corner2[2];  // vertices 0 (top-left) and 2 (bottom-right)
    std::memcpy(corner0, vertices.data() + q * kBytesPerQuad, sizeof(corner0));
    std::memcpy(corner2, vertices.data() + q * kBytesPerQuad + 2 * 16, sizeof(corner2));
    quads[static_cast<std::size_t>(q)] = {
        static_cast<int>(std::lround(corner0[0])), static_cast<int>(std::lround(corner0[1])),
        static_cast<int>(std::lround(corner2[0])), static_cast<int>(std::lround(corner2[1]))};
  }
  return quads;
}

// Coordinates and thicknesses are clamped to +-kFarAway pixels so that integer sums cannot overflow;
// anything that far out is clipped anyway.
constexpr int kFarAway = 1 << 24;

// First pixel index whose centre is at or after `coordinate`.
int pixel_begin(float coordinate) {
  const float far = static_cast<float>(kFarAway);
  return static_cast<int>(std::floor(std::clamp(coordinate, -far, far) + 0.5f));
}

// Cuts the segment (x0, y0) -> (x1, y1) to [lo_x, hi_x] x [lo_y, hi_y] (Liang-Barsky); false when
// no part of it lies inside.
bool clip_segment(double& x0, double& y0, double& x1, double& y1, double lo_x, double lo_y, double hi_x,
                  double hi_y) {
  const double dx = x1 - x0, dy = y1 - y0;
  const double direction[4] = {-dx, dx, -dy, dy};
  const double room[4] = {x0 - lo_x, hi_x - x0, y0 - lo_y, hi_y - y0};
  double enter = 0, leave = 1;
  for (int side = 0; side < 4; ++side) {
    if (direction[side] == 0) {  // parallel to this side: inside or out as a whole
      if (room[side] < 0) return false;
      continue;
    }
    const double t = room[side] / direction[side];
    if (direction[side] < 0) enter = std::max(enter, t);
    else leave = std::min(leave, t);
  }
  if (enter > leave) return false;
  const double sx = x0, sy = y0;
  x0 = sx + enter * dx, y0 = sy + enter * dy;
  x1 = sx + leave * dx, y1 = sy + leave * dy;
  return true;
}

std::uint8_t to_byte(float unit) {
  return static_cast<std::uint8_t>(std::lround(std::clamp(unit, 0.0f, 1.0f) * 255.0f));
}

Rgb from_hsv(float hue, float saturation, float value) {
  const float h = hue * 6.0f;
  const int sector = static_cast<int>(h) % 6;
  const float f = h - std::floor(h);
  const float p = value * (1 - saturation), q = value * (1 - saturation * f), t = value * (1 - saturation * (1 - f));
  const float rgb[6][3] = {{value, t, p}, {q, value, p}, {p, value, t}, {p, q, value}, {t, p, value}, {value, p, q}};
  return {to_byte(rgb[sector][0]), to_byte(rgb[sector][1]), to_byte(rgb[sector][2])};
}

// Black or white, whichever contrasts more with `background` (Rec. 601 luma).
Rgb readable_text_color(Rgb background) {
  const int luma = (299 * background.r + 587 * background.g + 114 * background.b) / 1000;
  return luma >= 128 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
}

}  // namespace

void fill_rectangle(Image& image, int x0, int y0, int x1, int y1, Rgb color) {
  x0 = std::max(x0, 0), y0 = std::max(y0, 0);
  x1 = std::min(x1, image.width), y1 = std::min(y1, image.height);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      std::uint8_t* p = image.pixel(y, x);
      p[0] = color.r, p[1] = color.g, p[2] = color.b;
    }
}

void draw_rectangle(Image& image, float x1, float y1, float x2, float y2, Rgb color, int thickness) {
  GHM_CHECK(std::isfinite(x1) && std::isfinite(y1) && std::isfinite(x2) && std::isfinite(y2),
            "draw_rectangle: non-finite box (", x1, ", ", y1, ", ", x2, ", ", y2, ")");
  GHM_CHECK(thickness >= 1, "draw_rectangle: thickness ", thickness, " must be at least 1");
  const int left = pixel_begin(x1), top = pixel_begin(y1);
  const int right = std::max(pixel_begin(x2), left + 1), bottom = std::max(pixel_begin(y2), top + 1);
  const int t = std::min(thickness, kFarAway);
  fill_rectangle(image, left, top, right, std::min(top + t, bottom), color);
  fill_rectangle(image, left, std::max(bottom - t, top), right, bottom, color);
  fill_rectangle(image, left, top, std::min(left + t, right), bottom, color);
  fill_rectangle(image, std::max(right - t, left), top, right, bottom, color);
}

void draw_line(Image& image, float x0, float y0, float x1, float y1, Rgb color, int thickness) {
  GHM_CHECK(std::isfinite(x0) && std::isfinite(y0) && std::isfinite(x1) && std::isfinite(y1),
            "draw_line: non-finite end points (", x0, ", ", y0, ") -> (", x1, ", ", y1, ")");
  GHM_CHECK(thickness >= 1, "draw_line: thickness ", thickness, " must be at least 1");
  const int t = std::min(thickness, kFarAway);
  const double margin = t / 2 + 1;  // a stamp centred further out than this misses the image
  double ax = x0, ay = y0, bx = x1, by = y1;
  if (!clip_segment(ax, ay, bx, by, -margin, -margin, image.width + margin, image.height + margin)) return;
  const double dx = bx - ax, dy = by - ay;
  const auto steps = static_cast<std::int64_t>(std::ceil(std::max(std::abs(dx), std::abs(dy))));
  const int back = (t - 1) / 2;  // pixels of the stamp before (left of, above) its centre pixel
  for (std::int64_t i = 0; i <= steps; ++i) {
    const double f = steps == 0 ? 0.0 : static_cast<double>(i) / static_cast<double>(steps);
    const int left = static_cast<int>(std::floor(ax + f * dx)) - back;
    const int top = static_cast<int>(std::floor(ay + f * dy)) - back;
    fill_rectangle(image, left, top, left + t, top + t, color);
  }
}

TextExtent text_extent(std::string_view text, int scale) {
  GHM_CHECK(scale >= 1 && scale <= kMaxTextScale, "text_extent: scale ", scale, " is outside 1..", kMaxTextScale);
  if (text.empty()) return {};
  int width = 0;
  for (const FontQuad& q : font_quads(text)) width = std::max(width, q.x1);
  const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  return {width * scale, ((lines - 1) * kLineAdvance + kGlyphHeight) * scale};
}

void draw_text(Image& image, int x, int y, std::string_view text, Rgb color, int scale) {
  GHM_CHECK(scale >= 1 && scale <= kMaxTextScale, "draw_text: scale ", scale, " is outside 1..", kMaxTextScale);
  for (const FontQuad& q : font_quads(text))
    fill_rectangle(image, x + q.x0 * scale, y + q.y0 * scale, x + q.x1 * scale, y + q.y1 * scale, color);
}

void label_box(Image& image, float x1, float y1, float x2, float y2, std::string_view label, Rgb color,
               int thickness, int text_scale) {
  draw_rectangle(image, x1, y1, x2, y2, color, thickness);
  if (label.empty()) return;
  const TextExtent text = text_extent(label, text_scale);
  const int padding = kLabelPadding * text_scale;
  const int width = text.width + 2 * padding, height = text.height + 2 * padding;
  const int box_left = pixel_begin(x1), box_top = pixel_begin(y1);
  const int left = std::clamp(box_left, 0, std::max(image.width - width, 0));
  const int top = std::clamp(box_top - height >= 0 ? box_top - height : box_top, 0, std::max(image.height - height, 0));
  fill_rectangle(image, left, top, left + width, top + height, color);
  draw_text(image, left + padding, top + padding, label, readable_text_color(color), text_scale);
}

Rgb class_color(int label) {
  constexpr double kGoldenRatioConjugate = 0.6180339887498949;
  const double hue = std::fmod(static_cast<double>(static_cast<unsigned>(label)) * kGoldenRatioConjugate + 0.05, 1.0);
  return from_hsv(static_cast<float>(hue), 0.85f, 0.95f);
}

}  // namespace ghm::io
