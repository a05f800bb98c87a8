// Tests for io/draw: exact pixels of filled and outlined rectangles (the box-to-pixel convention,
// thickness, clipping at every border), text that stays inside its reported extent, labelled
// boxes that stay inside the image, distinct class colours, and argument errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/check.h"
#include "io/draw.h"

using ghm::io::Image;
using ghm::io::Rgb;

namespace {

constexpr Rgb kRed{255, 0, 0};

bool is(const Image& image, int x, int y, Rgb c) {
  const std::uint8_t* p = image.pixel(y, x);
  return p[0] == c.r && p[1] == c.g && p[2] == c.b;
}

bool is_black(const Image& image, int x, int y) { return is(image, x, y, Rgb{}); }

// The pixels of `image` that are not black, as a picture: one string per row, '#' or '.'.
std::string picture(const Image& image) {
  std::string rows;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) rows += is_black(image, x, y) ? '.' : '#';
    rows += '\n';
  }
  return rows;
}

// The tight box [x0, x1) x [y0, y1) of the non-black pixels; x0 = width when there are none.
struct Extent {
  int x0, y0, x1, y1;
};

Extent drawn_extent(const Image& image) {
  Extent e{image.width, image.height, 0, 0};
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      if (!is_black(image, x, y))
        e = {std::min(e.x0, x), std::min(e.y0, y), std::max(e.x1, x + 1), std::max(e.y1, y + 1)};
  return e;
}

// A draw_rectangle call on a black image: the image's size, the box (x0, y0, x1, y1), the
// thickness, and the picture it must give.
struct RectangleCase {
  const char* what;
  int height, width;
  std::array<float, 4> box;
  int thickness;
  const char* picture;
};

void check_rectangle_pictures(const std::vector<RectangleCase>& cases) {
  for (const RectangleCase& c : cases) {
    CAPTURE(c.what);
    Image image(c.height, c.width);
    ghm::io::draw_rectangle(image, c.box[0], c.box[1], c.box[2], c.box[3], kRed, c.thickness);
    CHECK(picture(image) == c.picture);
  }
}

}  // namespace

TEST_CASE("draw: fill_rectangle fills the half-open rectangle, clipped to the image") {
  Image image(4, 6);
  ghm::io::fill_rectangle(image, -3, 1, 2, 9, kRed);
  CHECK(picture(image) ==
        "......\n"
        "##....\n"
        "##....\n"
        "##....\n");
  CHECK(is(image, 1, 3, kRed));
  ghm::io::fill_rectangle(image, 7, 0, 9, 4, kRed);  // wholly outside: nothing
  ghm::io::fill_rectangle(image, 3, 3, 3, 4, kRed);  // empty: nothing
  CHECK(drawn_extent(image).x1 == 2);
}

TEST_CASE("draw: draw_rectangle outlines the pixels whose centres lie inside the box") {
  check_rectangle_pictures({{"COCO [1, 1, 6, 5]: columns 1..6, rows 1..5", 7, 9, {1, 1, 7, 6}, 1,
                             ".........\n"
                             ".######..\n"
                             ".#....#..\n"
                             ".#....#..\n"
                             ".#....#..\n"
                             ".######..\n"
                             ".........\n"},
                            {"two pixels thick", 7, 9, {1, 1, 7, 6}, 2,
                             ".........\n"
                             ".######..\n"
                             ".######..\n"
                             ".##..##..\n"
                             ".######..\n"
                             ".######..\n"
                             ".........\n"},
                            {"thinner than a pixel: still one pixel", 3, 3, {1.2f, 1.2f, 1.3f, 1.3f}, 1,
                             "...\n.#.\n...\n"}});

  Image fractional(7, 9);  // centres at x + 0.5: 0.6 -> column 1, 6.4 -> up to column 5
  ghm::io::draw_rectangle(fractional, 0.6f, 0.6f, 6.4f, 5.6f, kRed, 1);
  CHECK(drawn_extent(fractional).x0 == 1);
  CHECK(drawn_extent(fractional).x1 == 6);
  CHECK(drawn_extent(fractional).y1 == 6);

  Image solid(7, 9);  // thicker than half the box: a filled box, never outside it
  ghm::io::draw_rectangle(solid, 1, 1, 7, 6, kRed, 5);
  CHECK(drawn_extent(solid).x0 == 1);
  CHECK(drawn_extent(solid).x1 == 7);
  CHECK(drawn_extent(solid).y1 == 6);
  CHECK(is(solid, 3, 3, kRed));
}

TEST_CASE("draw: draw_rectangle clips boxes that cross or miss the image") {
  check_rectangle_pictures({{"left and top edges outside", 5, 6, {-3, -2, 3, 3}, 1,
                             "..#...\n"
                             "..#...\n"
                             "###...\n"
                             "......\n"
                             "......\n"},
                            {"right and bottom edges outside", 5, 6, {4, 3, 40, 30}, 1,
                             "......\n"
                             "......\n"
                             "......\n"
                             "....##\n"
                             "....#.\n"}});
  Image huge(5, 6);
  ghm::io::draw_rectangle(huge, -1e30f, -1e30f, 1e30f, 1e30f, kRed, 2);  // all edges outside
  CHECK(drawn_extent(huge).x0 == 6);
}

TEST_CASE("draw: text stays inside text_extent, scales, and tolerates any bytes") {
  const std::string text = "circle 0.93";
  const ghm::io::TextExtent extent = ghm::io::text_extent(text, 1);
  CHECK(extent.height == 9);
  CHECK(extent.width > 40);
  CHECK(extent.width < 70);
  Image image(30, 100);
  ghm::io::draw_text(image, 5, 7, text, kRed, 1);
  const Extent drawn = drawn_extent(image);
  CHECK(drawn.x0 >= 5);
  CHECK(drawn.y0 >= 7);
  CHECK(drawn.x1 == 5 + extent.width);  // the last glyph reaches the reported width
  CHECK(drawn.y1 <= 7 + extent.height);
  CHECK(drawn.y1 > 7 + 4);

  const ghm::io::TextExtent doubled = ghm::io::text_extent(text, 2);
  CHECK(doubled.width == 2 * extent.width);
  CHECK(doubled.height == 2 * extent.height);
  Image big(40, 150);
  ghm::io::draw_text(big, 0, 0, text, kRed, 2);
  CHECK(drawn_extent(big).x1 == doubled.width);

  CHECK(ghm::io::text_extent("", 1).width == 0);
  CHECK(ghm::io::text_extent("a\nb", 1).height == 12 + 9);
  Image odd(20, 40);
  ghm::io::draw_text(odd, -3, -3, std::string("\x01\xff\t\xc3\xa9", 5), kRed, 1);  // drawn as '?'
  CHECK(drawn_extent(odd).x0 < 40);
}

TEST_CASE("draw: label_box puts the label above the box, or inside it at the top, within the image") {
  const Rgb yellow{250, 220, 20};  // bright: black text
  Image image(60, 80);
  ghm::io::label_box(image, 10, 30, 50, 55, "star 0.5", yellow, 1, 1);
  const ghm::io::TextExtent text = ghm::io::text_extent("star 0.5", 1);
  CHECK(is(image, 10, 30 - text.height - 2, yellow));  // the label's background, above the box
  CHECK(is_black(image, 10, 30 - text.height - 3));
  int black_text = 0;
  for (int y = 30 - text.height - 2; y < 30; ++y)
    for (int x = 10; x < 10 + text.width + 2; ++x) black_text += is_black(image, x, y);
  CHECK(black_text > 10);

  Image top(60, 80);  // no room above: inside the box
  ghm::io::label_box(top, 10, 2, 50, 40, "star 0.5", Rgb{20, 20, 200}, 1, 1);
  CHECK(is(top, 10 + text.width / 2, 2 + text.height + 1, Rgb{20, 20, 200}));  // bottom padding of the label
  int white_text = 0;
  for (int y = 2; y < 2 + text.height + 2; ++y)
    for (int x = 10; x < 10 + text.width + 2; ++x) white_text += is(top, x, y, Rgb{255, 255, 255});
  CHECK(white_text > 10);

  Image right(60, 80);  // box at the right border: the label moves left to stay inside
  ghm::io::label_box(right, 70, 30, 80, 50, "hexagon 0.99", yellow, 1, 1);
  CHECK(drawn_extent(right).x1 == 80);
  CHECK(drawn_extent(right).x0 == 80 - ghm::io::text_extent("hexagon 0.99", 1).width - 2);
  Image narrow(60, 40);  // a label wider than the image starts at its left border
  ghm::io::label_box(narrow, 30, 30, 40, 50, "hexagon 0.99", yellow, 1, 1);
  CHECK(drawn_extent(narrow).x0 == 0);
}

TEST_CASE("draw: class colours are deterministic, bright and far apart for neighbouring labels") {
  for (int label = 0; label < 10; ++label) {
    const Rgb a = ghm::io::class_color(label), b = ghm::io::class_color(label + 1);
    CAPTURE(label);
    const double distance = std::hypot(a.r - b.r, a.g - b.g, a.b - b.b);
    CHECK(distance > 100);
    CHECK(std::max({a.r, a.g, a.b}) >= 200);
    CHECK(ghm::io::class_color(label).r == a.r);
  }
  const Rgb negative = ghm::io::class_color(-1);
  CHECK(std::max({negative.r, negative.g, negative.b}) >= 200);
}

TEST_CASE("draw: bad arguments are errors") {
  Image image(4, 4);
  CHECK_THROWS_WITH_AS(ghm::io::draw_rectangle(image, 0, 0, 2, 2, kRed, 0), doctest::Contains("thickness 0"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(ghm::io::draw_rectangle(image, std::numeric_limits<float>::quiet_NaN(), 0, 2, 2, kRed, 1),
                       doctest::Contains("non-finite"), ghm::Error);
  CHECK_THROWS_WITH_AS(ghm::io::draw_text(image, 0, 0, "a", kRed, 0), doctest::Contains("scale 0"), ghm::Error);
  CHECK_THROWS_WITH_AS(ghm::io::text_extent("a", 65), doctest::Contains("scale 65 is outside 1..64"), ghm::Error);
}
