// Tests for io/plot and io/draw's draw_line: ticks are nice numbers that cover their range; auto
// ranges widen to whole steps and survive empty and one-value data; a line is rasterised through
// exactly the expected pixels, clipped, and lands where the frame's mapping says; bars rise from
// the axis; the legend and the title appear inside the image; bad ranges and figures too small
// for their panels are errors.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/check.h"
#include "io/draw.h"
#include "io/plot.h"

using ghm::io::Image;
using ghm::io::Rgb;
namespace io = ghm::io;

namespace {

constexpr Rgb kRed{255, 0, 0};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is(const Image& image, int x, int y, Rgb c) {
  const std::uint8_t* p = image.pixel(y, x);
  return p[0] == c.r && p[1] == c.g && p[2] == c.b;
}

// '#' for red pixels, '.' for the others, one string per row.
std::string picture(const Image& image) {
  std::string rows;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) rows += is(image, x, y, kRed) ? '#' : '.';
    rows += '\n';
  }
  return rows;
}

int count_color(const Image& image, int x0, int y0, int x1, int y1, Rgb c) {
  int n = 0;
  for (int y = std::max(y0, 0); y < std::min(y1, image.height); ++y)
    for (int x = std::max(x0, 0); x < std::min(x1, image.width); ++x) n += is(image, x, y, c);
  return n;
}

// A line on a black 6x8 image: from (x0, y0) to (x1, y1), its width, and the picture it must give.
struct LineCase {
  const char* what;
  std::array<float, 4> from_to;
  int width;
  const char* picture;
};

bool is_nice_step(double step) {
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
  // the mantissa of a double 1, 2 or 5 x 10^k is that digit up to rounding: 1e-9 relative
  return std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9 ||
         std::abs(mantissa - 10) < 1e-8;
}

}  // namespace

TEST_CASE("plot: nice_ticks are 1-2-5 multiples inside the range, at least two, spaced by the step") {
  const double ranges[][2] = {{0, 1}, {0.013, 0.087}, {-3.7, 12.2}, {1e-5, 3e-5}, {0, 16}, {1e6, 5e6}, {7, 7.001},
                              {-1e-3, 1e-3}};
  for (const auto& r : ranges)
    for (int target : {2, 3, 6, 10}) {
      CAPTURE(r[0]);
      CAPTURE(r[1]);
      CAPTURE(target);
      const io::Ticks t = io::nice_ticks(r[0], r[1], target);
      CHECK(is_nice_step(t.step));
      REQUIRE(t.values.size() >= 2);
      CHECK(t.values.size() <= static_cast<std::size_t>(3 * target));
      const double eps = 1e-9 * t.step;  // the values are k * step, rounded once
      CHECK(t.values.front() >= r[0] - eps);
      CHECK(t.values.back() <= r[1] + eps);
      CHECK(t.values.front() - r[0] < t.step);  // no room for another tick below ...
      CHECK(r[1] - t.values.back() < t.step);   // ... or above: the ticks cover the range
      for (std::size_t i = 0; i + 1 < t.values.size(); ++i)
        CHECK(std::abs(t.values[i + 1] - t.values[i] - t.step) < eps);
      for (double v : t.values) CHECK(std::abs(v / t.step - std::round(v / t.step)) < 1e-9);
    }
  const io::Ticks unit = io::nice_ticks(0, 1, 6);
  CHECK(unit.step == doctest::Approx(0.2));
  REQUIRE(unit.values.size() == 6);
  CHECK(unit.values[3] == doctest::Approx(0.6));
  CHECK(unit.values[0] == 0.0);  // exactly zero, not 1e-17
  CHECK_THROWS_AS(io::nice_ticks(1, 1), ghm::Error);
  CHECK_THROWS_AS(io::nice_ticks(2, 1), ghm::Error);
  CHECK_THROWS_AS(io::nice_ticks(0, kNaN), ghm::Error);
  CHECK_THROWS_AS(io::nice_ticks(0, 1, 1), ghm::Error);
  CHECK_THROWS_AS(io::nice_ticks(0, 1e-320), ghm::Error);  // a subnormal range: an error, not a hang
}

TEST_CASE("plot: log ticks are powers of ten, or 1-2-5 multiples over fewer than three powers") {
  const std::vector<double> decades = io::log_ticks(1e-4, 1);
  REQUIRE(decades.size() == 5);
  for (std::size_t i = 0; i < decades.size(); ++i)
    CHECK(decades[i] == doctest::Approx(std::pow(10.0, static_cast<double>(i) - 4)));
  const std::vector<double> many = io::log_ticks(1e-30, 1e30);  // every k-th power: at most ten
  CHECK(many.size() <= 10);
  CHECK(many.size() >= 5);
  const std::vector<double> two_decades = io::log_ticks(0.5, 20);  // two powers: 1-2-5 multiples
  REQUIRE(two_decades.size() == 6);
  CHECK(two_decades[0] == doctest::Approx(0.5));
  CHECK(two_decades[5] == doctest::Approx(20));
  const std::vector<double> narrow = io::log_ticks(2, 9);
  REQUIRE(narrow.size() == 2);
  CHECK(narrow[0] == doctest::Approx(2));
  CHECK(narrow[1] == doctest::Approx(5));
  const std::vector<double> tiny = io::log_ticks(1.1, 1.3);  // no 1-2-5 value inside: linear ticks
  CHECK(tiny.size() >= 2);
  for (double v : tiny) CHECK((v >= 1.1 - 1e-12 && v <= 1.3 + 1e-12));
  CHECK_THROWS_AS(io::log_ticks(0, 1), ghm::Error);
  CHECK_THROWS_AS(io::log_ticks(-1, 1), ghm::Error);
}

TEST_CASE("plot: tick labels are short") {
  CHECK(io::format_tick(0) == "0");
  CHECK(io::format_tick(0.25) == "0.25");
  CHECK(io::format_tick(1200) == "1200");
  CHECK(io::format_tick(0.1 + 0.2) == "0.3");
  CHECK(io::format_tick(-3) == "-3");
  CHECK(io::format_tick(2e-5) == "2e-5");
  CHECK(io::format_tick(1.5e6) == "1.5e6");
  CHECK(io::format_tick(1e-10) == "1e-10");
}

TEST_CASE("plot: auto ranges widen to whole steps, empty, one-value and NaN data still give a range") {
  io::Figure fig(200, 100);
  io::Panel& p = fig.add_panel();
  p.add_line("a", {0.3, 4.1, 9.7}, {0.003, 0.05, 0.7}, io::plot_color(0));
  CHECK(p.x_range().lo == 0.0);
  CHECK(p.x_range().hi == doctest::Approx(10));
  p.set_y_scale(io::Scale::Log);
  CHECK(p.y_range().lo == doctest::Approx(0.002));  // the 1-2-5 value at or below 0.003
  CHECK(p.y_range().hi == doctest::Approx(1));

  io::Panel& empty = fig.add_panel();
  CHECK(empty.x_range().lo == 0.0);
  CHECK(empty.x_range().hi == 1.0);
  empty.set_y_scale(io::Scale::Log);
  CHECK(empty.y_range().lo == 1.0);
  CHECK(empty.y_range().hi == 10.0);

  io::Panel& one = fig.add_panel();
  one.add_points("", {5}, {0}, kRed);
  CHECK(one.x_range().lo < 5);
  CHECK(one.x_range().hi > 5);
  CHECK(one.y_range().lo < 0);
  CHECK(one.y_range().hi > 0);
  one.set_y_scale(io::Scale::Log);  // 0 cannot be drawn on a log axis: as if empty
  CHECK(one.y_range().lo == 1.0);

  io::Panel& nan = fig.add_panel();
  nan.add_line("", {kNaN, 1, 2}, {kNaN, kNaN, 3}, kRed);
  CHECK(std::isfinite(nan.x_range().lo));
  CHECK(nan.y_range().lo < 3);
  CHECK(nan.y_range().hi > 3);

  io::Panel& bars = fig.add_panel();
  bars.add_bars("", {0.5, 1.5}, {3, 4}, 1.0, kRed);
  CHECK(bars.x_range().lo <= 0.0);  // the bars' full width counts
  CHECK(bars.x_range().hi >= 2.0);
  CHECK(bars.y_range().lo == 0.0);  // linear bars start at 0

  io::Panel& fixed = fig.add_panel();
  CHECK_THROWS_AS(fixed.set_x_range(1, 1), ghm::Error);
  CHECK_THROWS_AS(fixed.set_y_range(2, 1), ghm::Error);
  CHECK_THROWS_AS(fixed.set_y_range(0, kNaN), ghm::Error);
  fixed.set_y_range(0, 1).set_y_scale(io::Scale::Log);
  CHECK_THROWS_WITH_AS(fixed.y_range(), doctest::Contains("lo > 0"), ghm::Error);
  CHECK_THROWS_AS(fixed.add_line("bad", {1, 2}, {1}, kRed), ghm::Error);
  CHECK_THROWS_AS(fixed.add_bars("bad", {1}, {1}, 0.0, kRed), ghm::Error);
}

TEST_CASE("draw_line: the pixels of horizontal, diagonal, thick, clipped and zero-length lines") {
  const LineCase pictures[] = {{"horizontal", {1.5f, 2.5f, 6.5f, 2.5f}, 1,
                                "........\n"
                                "........\n"
                                ".######.\n"
                                "........\n"
                                "........\n"
                                "........\n"},
                               {"diagonal", {0.5f, 0.5f, 5.5f, 5.5f}, 1,
                                "#.......\n"
                                ".#......\n"
                                "..#.....\n"
                                "...#....\n"
                                "....#...\n"
                                ".....#..\n"},
                               {"three pixels thick", {2.5f, 2.5f, 4.5f, 2.5f}, 3,
                                "........\n"
                                ".#####..\n"
                                ".#####..\n"
                                ".#####..\n"
                                "........\n"
                                "........\n"}};
  for (const LineCase& c : pictures) {
    CAPTURE(c.what);
    Image image(6, 8);
    io::draw_line(image, c.from_to[0], c.from_to[1], c.from_to[2], c.from_to[3], kRed, c.width);
    CHECK(picture(image) == c.picture);
  }

  Image image(6, 8);  // a shallow line: one pixel per column, 8-connected
  io::draw_line(image, 0.5f, 1.5f, 7.5f, 4.5f, kRed, 1);
  for (int x = 0; x < 8; ++x) CHECK(count_color(image, x, 0, x + 1, 6, kRed) == 1);
  CHECK(is(image, 0, 1, kRed));
  CHECK(is(image, 7, 4, kRed));

  image = Image(6, 8);  // far outside on both ends: the visible part only, and quickly
  io::draw_line(image, -1e9f, 3.5f, 1e9f, 3.5f, kRed, 1);
  CHECK(count_color(image, 0, 3, 8, 4, kRed) == 8);
  CHECK(count_color(image, 0, 0, 8, 6, kRed) == 8);

  image = Image(6, 8);
  io::draw_line(image, 3.2f, 4.7f, 3.2f, 4.7f, kRed, 1);
  CHECK(count_color(image, 0, 0, 8, 6, kRed) == 1);
  CHECK(is(image, 3, 4, kRed));

  image = Image(6, 8);
  io::draw_line(image, -5, -5, -1, 20, kRed, 1);  // entirely outside
  CHECK(count_color(image, 0, 0, 8, 6, kRed) == 0);

  CHECK_THROWS_AS(io::draw_line(image, 0, 0, std::numeric_limits<float>::infinity(), 1, kRed, 1), ghm::Error);
  CHECK_THROWS_AS(io::draw_line(image, 0, 0, 1, 1, kRed, 0), ghm::Error);
}

TEST_CASE("plot: a rendered line passes through the pixels the frame maps its points to") {
  io::Figure fig(320, 240, "a line");
  io::Panel& p = fig.add_panel();
  p.set_x_range(0, 10).set_y_range(0, 10).set_x_label("x").set_y_label("y");
  p.add_line("", {0, 2.5, 5, 7.5, 10}, {0, 2.5, 5, 7.5, 10}, kRed);
  const std::vector<io::PlotFrame> frames = fig.layout();
  REQUIRE(frames.size() == 1);
  const io::PlotFrame& f = frames[0];
  CHECK(f.left > 0);
  CHECK(f.right < 320);
  CHECK(f.top > 0);
  CHECK(f.bottom < 240);
  CHECK(f.pixel_x(0) == doctest::Approx(f.left + 0.5));   // the range's ends are the centres of the
  CHECK(f.pixel_x(10) == doctest::Approx(f.right - 0.5));  // first and last columns (rows)
  CHECK(f.pixel_y(0) == doctest::Approx(f.bottom - 0.5));
  const Image image = fig.render();
  REQUIRE(image.width == 320);
  REQUIRE(image.height == 240);
  // Every vertex's pixel is on the line ...
  for (double t : {0.0, 2.5, 5.0, 7.5, 10.0}) {
    CAPTURE(t);
    CHECK(is(image, static_cast<int>(std::floor(f.pixel_x(t))), static_cast<int>(std::floor(f.pixel_y(t))), kRed));
  }
  // ... and every column between them has a red pixel within a row of the exact line (the steps
  // go along the longer axis, so a step's row is the line's row at that step, +-1 between steps).
  for (int x = f.left; x < f.right; ++x) {
    CAPTURE(x);
    const double t = (x + 0.5 - f.pixel_x(0)) / (f.pixel_x(10) - f.pixel_x(0)) * 10;
    const int y = static_cast<int>(std::floor(f.pixel_y(t)));
    CHECK(count_color(image, x, y - 1, x + 1, y + 2, kRed) > 0);
  }
  // Off the diagonal, and outside the plot area, nothing is red.
  CHECK_FALSE(is(image, static_cast<int>(f.pixel_x(2)), static_cast<int>(f.pixel_y(8)), kRed));
  CHECK(count_color(image, 0, 0, f.left - 1, 240, kRed) == 0);
  CHECK(count_color(image, 0, 0, 320, f.top - 1, kRed) == 0);

  // Data beyond a fixed range is clipped to the plot area.
  io::Figure clipped(320, 240);
  io::Panel& q = clipped.add_panel();
  q.set_x_range(0, 1).set_y_range(0, 1);
  q.add_line("", {-100, 100}, {0.5, 0.5}, kRed);
  const io::PlotFrame g = clipped.layout()[0];
  const Image c = clipped.render();
  CHECK(count_color(c, 0, 0, 320, 240, kRed) == count_color(c, g.left, 0, g.right, 240, kRed));
  CHECK(count_color(c, g.left, 0, g.right, 240, kRed) >= g.right - g.left);
}

TEST_CASE("plot: bars rise from the bottom of a log axis, NaN breaks a line") {
  io::Figure fig(300, 200);
  io::Panel& p = fig.add_panel();
  p.set_x_range(0, 1).set_y_range(0.01, 1).set_y_scale(io::Scale::Log);
  p.add_bars("", {0.25, 0.75}, {0.1, 0.0}, 0.2, kRed);  // the second bar is 0: not drawn on a log axis
  const io::PlotFrame f = fig.layout()[0];
  const Image image = fig.render();
  const int x = static_cast<int>(f.pixel_x(0.25));
  CHECK(is(image, x, static_cast<int>(f.pixel_y(0.011)), kRed));
  CHECK(is(image, x, static_cast<int>(f.pixel_y(0.09)), kRed));
  CHECK_FALSE(is(image, x, static_cast<int>(f.pixel_y(0.2)), kRed));
  CHECK(count_color(image, static_cast<int>(f.pixel_x(0.66)), f.top, static_cast<int>(f.pixel_x(0.84)), f.bottom,
                    kRed) == 0);

  io::Figure gap(300, 200);
  io::Panel& g = gap.add_panel();
  g.set_x_range(0, 4).set_y_range(0, 1);
  g.add_line("", {0, 1, 2, 3, 4}, {0.5, 0.5, kNaN, 0.5, 0.5}, kRed);
  const io::PlotFrame h = gap.layout()[0];
  const Image broken = gap.render();
  const int row = static_cast<int>(h.pixel_y(0.5));
  CHECK(is(broken, static_cast<int>(h.pixel_x(0.5)), row, kRed));
  CHECK_FALSE(is(broken, static_cast<int>(h.pixel_x(2)), row, kRed));
  CHECK(is(broken, static_cast<int>(h.pixel_x(3.5)), row, kRed));
}

TEST_CASE("plot: the legend, title and labels are drawn inside the image") {
  io::Figure fig(400, 300, "title text");
  io::Panel& p = fig.add_panel();
  p.set_x_range(0, 10).set_y_range(0, 10).set_title("panel").set_x_label("iteration").set_y_label("loss");
  p.add_line("series one", {0, 1}, {0, 1}, kRed);  // data only near the bottom-left corner
  const io::PlotFrame f = fig.layout()[0];
  const Image image = fig.render();
  // The legend (top right): the red swatch, and dark text, near the plot area's top-right corner.
  const int legend_x0 = f.right - 120, legend_y0 = f.top, legend_y1 = f.top + 40;
  CHECK(count_color(image, legend_x0, legend_y0, f.right, legend_y1, kRed) > 0);
  CHECK(count_color(image, legend_x0, legend_y0, f.right, legend_y1, Rgb{30, 30, 30}) > 0);
  // The title: dark pixels in the band above the panel, roughly centred, away from the edges.
  int x_min = 400, x_max = -1;
  for (int y = 0; y < f.top - 14; ++y)
    for (int x = 0; x < 400; ++x)
      if (is(image, x, y, Rgb{30, 30, 30})) x_min = std::min(x_min, x), x_max = std::max(x_max, x);
  REQUIRE(x_max >= 0);
  CHECK(x_min > 10);
  CHECK(x_max < 390);
  CHECK(std::abs((x_min + x_max) / 2 - 200) < 10);
  // The x label and tick labels: dark pixels below the plot area, inside the image.
  CHECK(count_color(image, f.left, f.bottom + 2, f.right, 300, Rgb{30, 30, 30}) > 0);
  // The y tick labels: dark pixels left of the plot area.
  CHECK(count_color(image, 0, f.top, f.left - 1, f.bottom, Rgb{30, 30, 30}) > 0);
}

TEST_CASE("plot: figures too small for their panels, and bad sizes, are errors") {
  CHECK_THROWS_AS(io::Figure(10, 300), ghm::Error);
  CHECK_THROWS_AS(io::Figure(300, 100000), ghm::Error);
  io::Figure crowded(200, 120);
  for (int i = 0; i < 4; ++i) crowded.add_panel().set_x_label("x");
  CHECK_THROWS_WITH_AS(crowded.render(), doctest::Contains("larger"), ghm::Error);
  io::Figure fig(200, 120);
  CHECK_THROWS_AS(fig.add_panel(0.0), ghm::Error);
  CHECK_THROWS_AS(io::plot_color(-1), ghm::Error);
  CHECK(fig.render().width == 200);  // no panels: a blank figure
}
