// Figures, panels, ticks and series (conventions in plot.h).
//
// Layout of one panel, inside the band of rows the figure gives it:
//
//   +--------------------------------------------------------+
//   | y label                  title                         |  kCaptionRow (when either is set)
//   |        +---------------------------------------+       |
//   |  1000 -|  grid, series (clipped), legend       |       |
//   |        |                                       |       |
//   |    10 -+---------------------------------------+       |
//   |        0          50          100          150         |  tick labels
//   |                      x label                           |  kCaptionRow (when set)
//   +--------------------------------------------------------+
//
// The left margin is the widest y tick label of all panels, so the plot areas line up. The number
// of ticks follows the plot area's size (about one per kPixelsPerXTick / kPixelsPerYTick). The
// plot area (background, grid, series) is drawn on its own image and copied in, which clips the
// series to it; the frame, ticks, labels and legend are drawn over the figure.
#include "io/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/check.h"

namespace ghm::io {
namespace {

constexpr Rgb kBackground{255, 255, 255};
constexpr Rgb kGrid{228, 228, 228};
constexpr Rgb kFrame{90, 90, 90};
constexpr Rgb kText{30, 30, 30};
constexpr Rgb kLegendBorder{160, 160, 160};

constexpr int kMinFigureSide = 64, kMaxFigureSide = 16384;
constexpr int kMinPlotSide = 16;
constexpr int kOuter = 8;          // blank border around each panel
constexpr int kCaptionRow = 14;    // a row of scale-1 text and its gap
constexpr int kTickLength = 4;
constexpr int kTickGap = 3;        // between a tick mark and its label
constexpr int kTextHeight = 9;     // scale-1 text (io/draw.h)
constexpr int kPixelsPerXTick = 90, kPixelsPerYTick = 40;
constexpr int kLineThickness = 2;
constexpr int kMarkerSize = 5;
constexpr int kLegendPadding = 6, kLegendRow = 12, kLegendSwatch = 16, kLegendInset = 8;
constexpr double kRelativeTolerance = 1e-9;  // ticks within this fraction of a step of the range count
constexpr double kFarPixel = 1e7;            // pixel coordinates are clamped to +-this

// ---- ticks and ranges -------------------------------------------------------------------------

// The nice step (1, 2 or 5 x 10^k) just above `raw`, or the one `notches` below that.
double nice_step(double raw, int notches_down = 0) {
  constexpr double kMantissas[3] = {1, 2, 5};
  double exponent = std::floor(std::log10(raw));
  int m = 0;
  const double base = std::pow(10.0, exponent);
  while (m < 3 && kMantissas[m] * base < raw * (1 - kRelativeTolerance)) ++m;
  if (m == 3) m = 0, exponent += 1;
  int index = static_cast<int>(exponent) * 3 + m - notches_down;
  const int e = index >= 0 ? index / 3 : -((-index + 2) / 3);
  return kMantissas[index - e * 3] * std::pow(10.0, e);
}

std::vector<double> multiples_inside(double lo, double hi, double step) {
  const double first = std::ceil(lo / step - kRelativeTolerance);
  const double last = std::floor(hi / step + kRelativeTolerance);
  std::vector<double> values;
  for (double k = first; k <= last && values.size() < 1000; k += 1) values.push_back(k == 0 ? 0.0 : k * step);
  return values;
}

bool usable(double v, Scale scale) { return std::isfinite(v) && (scale == Scale::Linear || v > 0); }

struct Extent {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  bool empty() const { return !(lo <= hi); }
  void add(double v) { lo = std::min(lo, v), hi = std::max(hi, v); }
};

enum class Axis { X, Y };

Extent data_extent(const std::vector<Series>& series, Axis axis, Scale scale) {
  Extent e;
  for (const Series& s : series) {
    const std::vector<double>& values = axis == Axis::X ? s.x : s.y;
    for (double v : values) {
      if (!usable(v, scale)) continue;
      if (s.mark == Mark::Bars && axis == Axis::X) {
        if (usable(v - s.bar_width / 2, scale)) e.add(v - s.bar_width / 2);
        if (usable(v + s.bar_width / 2, scale)) e.add(v + s.bar_width / 2);
      } else {
        e.add(v);
      }
    }
    if (s.mark == Mark::Bars && axis == Axis::Y && scale == Scale::Linear && !values.empty()) e.add(0.0);
  }
  return e;
}

// The data's range widened to whole steps (see plot.h).
Range auto_range(Extent e, Scale scale) {
  if (scale == Scale::Log) {
    if (e.empty()) return {1, 10};
    if (e.hi <= e.lo * (1 + kRelativeTolerance)) e = {e.lo / 2, e.hi * 2};
    double lo = nice_step(e.lo);
    if (lo > e.lo * (1 + kRelativeTolerance)) lo = nice_step(e.lo, 1);
    return {lo, nice_step(e.hi)};
  }
  if (e.empty()) return {0, 1};
  const double magnitude = std::max(std::abs(e.lo), std::abs(e.hi));
  if (e.hi - e.lo <= magnitude * kRelativeTolerance) {
    const double half = magnitude > 0 ? magnitude / 2 : 0.5;
    e = {e.lo - half, e.hi + half};
  }
  const double step = nice_ticks(e.lo, e.hi).step;
  return {std::floor(e.lo / step + kRelativeTolerance) * step, std::ceil(e.hi / step - kRelativeTolerance) * step};
}

std::vector<double> axis_ticks(Range r, Scale scale, int pixels, int pixels_per_tick) {
  if (scale == Scale::Log) return log_ticks(r.lo, r.hi);
  return nice_ticks(r.lo, r.hi, std::clamp(pixels / pixels_per_tick, 2, 10)).values;
}

// ---- pixels -----------------------------------------------------------------------------------

double axis_fraction(double v, Range r, Scale scale) {
  if (scale == Scale::Log) return (std::log10(v) - std::log10(r.lo)) / (std::log10(r.hi) - std::log10(r.lo));
  return (v - r.lo) / (r.hi - r.lo);
}

float clamp_pixel(double p) { return static_cast<float>(std::clamp(p, -kFarPixel, kFarPixel)); }
int pixel_index(double p) { return static_cast<int>(std::floor(clamp_pixel(p))); }

// ---- drawing ----------------------------------------------------------------------------------

void draw_series(Image& area, const PlotFrame& f, const Series& s) {
  const auto visible = [&](std::size_t i) { return usable(s.x[i], f.x_scale) && usable(s.y[i], f.y_scale); };
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    if (!visible(i)) continue;
    const float px = clamp_pixel(f.pixel_x(s.x[i])), py = clamp_pixel(f.pixel_y(s.y[i]));
    if (s.mark == Mark::Line) {
      if (i + 1 < s.x.size() && visible(i + 1))
        draw_line(area, px, py, clamp_pixel(f.pixel_x(s.x[i + 1])), clamp_pixel(f.pixel_y(s.y[i + 1])), s.color,
                  kLineThickness);
      else if (i == 0 || !visible(i - 1))  // a lone point between gaps
        draw_line(area, px, py, px, py, s.color, kLineThickness);
    } else if (s.mark == Mark::Points) {
      const int x = pixel_index(px) - kMarkerSize / 2, y = pixel_index(py) - kMarkerSize / 2;
      fill_rectangle(area, x, y, x + kMarkerSize, y + kMarkerSize, s.color);
    } else {
      const double left = s.x[i] - s.bar_width / 2, right = s.x[i] + s.bar_width / 2;
      if (!usable(left, f.x_scale) || !usable(right, f.x_scale)) continue;  // e.g. reaching 0 on a log axis
      const double base = f.y_scale == Scale::Linear && f.y.lo < 0 && f.y.hi > 0 ? 0.0 : f.y.lo;
      const int x0 = static_cast<int>(std::lround(clamp_pixel(f.pixel_x(left))));
      const int x1 = static_cast<int>(std::lround(clamp_pixel(f.pixel_x(right))));
      const int top = pixel_index(py), bottom = pixel_index(f.pixel_y(base));
      fill_rectangle(area, x0, std::min(top, bottom), std::max(x1, x0 + 1), std::max(top, bottom) + 1, s.color);
    }
  }
}

// The plot area: background, grid and series, in an image of its own (so everything is clipped).
Image plot_area(const std::vector<Series>& series, const PlotFrame& f,
                const std::vector<double>& x_ticks, const std::vector<double>& y_ticks) {
  Image area(f.bottom - f.top, f.right - f.left);
  fill_rectangle(area, 0, 0, area.width, area.height, kBackground);
  PlotFrame local = f;
  local.left = 0, local.right = area.width, local.top = 0, local.bottom = area.height;
  for (double v : x_ticks) {
    const int x = pixel_index(local.pixel_x(v));
    fill_rectangle(area, x, 0, x + 1, area.height, kGrid);
  }
  for (double v : y_ticks) {
    const int y = pixel_index(local.pixel_y(v));
    fill_rectangle(area, 0, y, area.width, y + 1, kGrid);
  }
  for (const Series& s : series) draw_series(area, local, s);
  return area;
}

void copy_into(Image& image, const Image& part, int left, int top) {
  for (int y = 0; y < part.height; ++y)
    std::copy_n(part.pixel(y, 0), static_cast<std::size_t>(part.width) * 3, image.pixel(top + y, left));
}

void draw_centred_text(Image& image, int centre_x, int y, const std::string& text, int scale) {
  draw_text(image, centre_x - text_extent(text, scale).width / 2, y, text, kText, scale);
}

void draw_axes(Image& image, const PlotFrame& f, const std::vector<double>& x_ticks,
               const std::vector<double>& y_ticks) {
  draw_rectangle(image, static_cast<float>(f.left - 1), static_cast<float>(f.top - 1), static_cast<float>(f.right + 1),
                 static_cast<float>(f.bottom + 1), kFrame, 1);
  for (double v : x_ticks) {
    const int x = pixel_index(f.pixel_x(v));
    fill_rectangle(image, x, f.bottom + 1, x + 1, f.bottom + 1 + kTickLength, kFrame);
    draw_centred_text(image, x, f.bottom + 1 + kTickLength + kTickGap, format_tick(v), 1);
  }
  for (double v : y_ticks) {
    const int y = pixel_index(f.pixel_y(v));
    fill_rectangle(image, f.left - 1 - kTickLength, y, f.left - 1, y + 1, kFrame);
    const std::string label = format_tick(v);
    draw_text(image, f.left - 1 - kTickLength - kTickGap - text_extent(label, 1).width, y - kTextHeight / 2, label,
              kText, 1);
  }
}

void draw_legend(Image& image, const PlotFrame& f, const std::vector<Series>& series, LegendCorner corner) {
  std::vector<const Series*> named;
  int text_width = 0;
  for (const Series& s : series) {
    if (s.name.empty()) continue;
    named.push_back(&s);
    text_width = std::max(text_width, text_extent(s.name, 1).width);
  }
  if (named.empty()) return;
  const int width = 2 * kLegendPadding + kLegendSwatch + kLegendPadding + text_width;
  const int height = 2 * kLegendPadding + static_cast<int>(named.size()) * kLegendRow - (kLegendRow - kTextHeight);
  const bool right = corner == LegendCorner::TopRight || corner == LegendCorner::BottomRight;
  const bool top = corner == LegendCorner::TopRight || corner == LegendCorner::TopLeft;
  const int x0 = right ? f.right - kLegendInset - width : f.left + kLegendInset;
  const int y0 = top ? f.top + kLegendInset : f.bottom - kLegendInset - height;
  fill_rectangle(image, x0, y0, x0 + width, y0 + height, kBackground);
  draw_rectangle(image, static_cast<float>(x0), static_cast<float>(y0), static_cast<float>(x0 + width),
                 static_cast<float>(y0 + height), kLegendBorder, 1);
  for (std::size_t i = 0; i < named.size(); ++i) {
    const Series& s = *named[i];
    const int row = y0 + kLegendPadding + static_cast<int>(i) * kLegendRow;
    const int sx = x0 + kLegendPadding, mid = row + kTextHeight / 2;
    if (s.mark == Mark::Line)
      fill_rectangle(image, sx, mid - kLineThickness / 2, sx + kLegendSwatch, mid - kLineThickness / 2 + kLineThickness,
                     s.color);
    else if (s.mark == Mark::Points)
      fill_rectangle(image, sx + (kLegendSwatch - kMarkerSize) / 2, mid - kMarkerSize / 2,
                     sx + (kLegendSwatch + kMarkerSize) / 2, mid - kMarkerSize / 2 + kMarkerSize, s.color);
    else
      fill_rectangle(image, sx + 2, row, sx + kLegendSwatch - 2, row + kTextHeight, s.color);
    draw_text(image, sx + kLegendSwatch + kLegendPadding, row, s.name, kText, 1);
  }
}

void check_range(double lo, double hi, const char* what) {
  GHM_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "plot: ", what, " [", lo, ", ", hi,
            "] must be finite with lo < hi");
}

}  // namespace

// ---- ticks ------------------------------------------------------------------------------------

Ticks nice_ticks(double lo, double hi, int target) {
  check_range(lo, hi, "tick range");
  GHM_CHECK(std::isfinite(hi - lo), "plot: tick range [", lo, ", ", hi, "] is too wide");
  GHM_CHECK(target >= 2, "plot: nice_ticks wants a target of at least 2 ticks, got ", target);
  Ticks t;
  for (int notches = 0; t.values.size() < 2; ++notches) {
    t.step = nice_step((hi - lo) / (target - 1), notches);
    GHM_CHECK(std::isnormal(t.step) && notches < 16, "plot: no tick step fits the range [", lo, ", ", hi, "]");
    t.values = multiples_inside(lo, hi, t.step);
  }
  return t;
}

std::vector<double> log_ticks(double lo, double hi) {
  check_range(lo, hi, "log tick range");
  GHM_CHECK(lo > 0, "plot: a log axis needs a positive range, got [", lo, ", ", hi, "]");
  const double e0 = std::ceil(std::log10(lo) - kRelativeTolerance);
  const double e1 = std::floor(std::log10(hi) + kRelativeTolerance);
  std::vector<double> values;
  if (e1 - e0 >= 2) {  // three powers of ten or more
    const double stride = std::ceil((e1 - e0 + 1) / 10);
    for (double e = e0; e <= e1; e += stride) values.push_back(std::pow(10.0, e));
    return values;
  }
  for (double e = std::floor(std::log10(lo)); e <= std::ceil(std::log10(hi)); e += 1)
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, e);
      if (v >= lo * (1 - kRelativeTolerance) && v <= hi * (1 + kRelativeTolerance)) values.push_back(v);
    }
  return values.size() >= 2 ? values : nice_ticks(lo, hi).values;
}

std::string format_tick(double value) {
  char text[48];
  std::snprintf(text, sizeof text, "%.6g", value);
  std::string s = text;
  const std::size_t e = s.find('e');  // "2e-05" -> "2e-5", "1e+06" -> "1e6"
  if (e == std::string::npos) return s;
  std::string exponent = s.substr(e + 1);
  const bool negative = exponent[0] == '-';
  exponent.erase(0, exponent[0] == '-' || exponent[0] == '+' ? 1 : 0);
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return s.substr(0, e) + "e" + (negative ? "-" : "") + exponent;
}

Rgb plot_color(int index) {
  constexpr Rgb kPalette[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  GHM_CHECK(index >= 0, "plot_color: index ", index, " must be non-negative");
  return kPalette[index % 10];
}

// ---- frames and panels ------------------------------------------------------------------------

double PlotFrame::pixel_x(double v) const { return left + 0.5 + axis_fraction(v, x, x_scale) * (right - left - 1); }
double PlotFrame::pixel_y(double v) const { return bottom - 0.5 - axis_fraction(v, y, y_scale) * (bottom - top - 1); }

Panel& Panel::set_title(std::string title) { return title_ = std::move(title), *this; }
Panel& Panel::set_x_label(std::string label) { return x_label_ = std::move(label), *this; }
Panel& Panel::set_y_label(std::string label) { return y_label_ = std::move(label), *this; }
Panel& Panel::set_x_scale(Scale scale) { return x_scale_ = scale, *this; }
Panel& Panel::set_y_scale(Scale scale) { return y_scale_ = scale, *this; }
Panel& Panel::set_legend(LegendCorner corner) { return legend_ = corner, *this; }

Panel& Panel::set_x_range(double lo, double hi) {
  check_range(lo, hi, "x range");
  x_range_ = {lo, hi}, x_fixed_ = true;
  return *this;
}

Panel& Panel::set_y_range(double lo, double hi) {
  check_range(lo, hi, "y range");
  y_range_ = {lo, hi}, y_fixed_ = true;
  return *this;
}

Panel& Panel::add(Series series) {
  GHM_CHECK(series.x.size() == series.y.size(), "plot: series '", series.name, "' has ", series.x.size(),
            " x values but ", series.y.size(), " y values");
  GHM_CHECK(series.mark != Mark::Bars || (std::isfinite(series.bar_width) && series.bar_width > 0),
            "plot: bars '", series.name, "' need a positive width, got ", series.bar_width);
  series_.push_back(std::move(series));
  return *this;
}

Panel& Panel::add_line(std::string name, std::vector<double> x, std::vector<double> y, Rgb color) {
  return add({std::move(name), std::move(x), std::move(y), color, Mark::Line, 0});
}

Panel& Panel::add_points(std::string name, std::vector<double> x, std::vector<double> y, Rgb color) {
  return add({std::move(name), std::move(x), std::move(y), color, Mark::Points, 0});
}

Panel& Panel::add_bars(std::string name, std::vector<double> x, std::vector<double> y, double width, Rgb color) {
  return add({std::move(name), std::move(x), std::move(y), color, Mark::Bars, width});
}

Range Panel::x_range() const {
  GHM_CHECK(!x_fixed_ || x_scale_ == Scale::Linear || x_range_.lo > 0, "plot: log x axis with the range [",
            x_range_.lo, ", ", x_range_.hi, "]; a log axis needs lo > 0");
  return x_fixed_ ? x_range_ : auto_range(data_extent(series_, Axis::X, x_scale_), x_scale_);
}

Range Panel::y_range() const {
  GHM_CHECK(!y_fixed_ || y_scale_ == Scale::Linear || y_range_.lo > 0, "plot: log y axis with the range [",
            y_range_.lo, ", ", y_range_.hi, "]; a log axis needs lo > 0");
  return y_fixed_ ? y_range_ : auto_range(data_extent(series_, Axis::Y, y_scale_), y_scale_);
}

// ---- figure -----------------------------------------------------------------------------------

Figure::Figure(int width, int height, std::string title) : width_(width), height_(height), title_(std::move(title)) {
  GHM_CHECK(width >= kMinFigureSide && width <= kMaxFigureSide && height >= kMinFigureSide && height <= kMaxFigureSide,
            "plot: figure size ", width, "x", height, " is outside ", kMinFigureSide, "..", kMaxFigureSide);
}

Panel& Figure::add_panel(double height_share) {
  GHM_CHECK(std::isfinite(height_share) && height_share > 0, "plot: panel height share ", height_share,
            " must be positive");
  panels_.emplace_back();
  shares_.push_back(height_share);
  return panels_.back();
}

std::vector<PlotFrame> Figure::layout() const {
  const int title_height = title_.empty() ? 0 : text_extent(title_, 2).height + kOuter;
  double total_share = 0;
  for (double s : shares_) total_share += s;
  std::vector<PlotFrame> frames(panels_.size());
  int left_margin = 0, right_margin = kOuter + kCaptionRow;
  double share_before = 0;
  for (std::size_t i = 0; i < panels_.size(); ++i) {
    const Panel& p = panels_[i];
    PlotFrame& f = frames[i];
    const auto band_edge = [&](double share) {
      return title_height + static_cast<int>(std::lround((height_ - title_height) * share / total_share));
    };
    const int band_top = band_edge(share_before);
    share_before += shares_[i];
    const int band_bottom = band_edge(share_before);
    f.top = band_top + kOuter + (p.title_.empty() && p.y_label_.empty() ? 0 : kCaptionRow);
    f.bottom = band_bottom - kOuter - kTickLength - kTickGap - kTextHeight - (p.x_label_.empty() ? 0 : kCaptionRow);
    f.x = p.x_range(), f.y = p.y_range(), f.x_scale = p.x_scale_, f.y_scale = p.y_scale_;
    for (double v : axis_ticks(f.y, f.y_scale, f.bottom - f.top, kPixelsPerYTick))
      left_margin = std::max(left_margin, text_extent(format_tick(v), 1).width);
  }
  left_margin += kOuter + kTickLength + kTickGap + 1;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    PlotFrame& f = frames[i];
    f.left = left_margin;
    f.right = width_ - right_margin;
    GHM_CHECK(f.right - f.left >= kMinPlotSide && f.bottom - f.top >= kMinPlotSide, "plot: panel ", i + 1, " of ",
              panels_.size(), " has a plot area of ", f.right - f.left, "x", f.bottom - f.top,
              " pixels; make the figure (", width_, "x", height_, ") larger");
  }
  return frames;
}

Image Figure::render() const {
  Image image(height_, width_);
  fill_rectangle(image, 0, 0, width_, height_, kBackground);
  if (!title_.empty()) draw_centred_text(image, width_ / 2, kOuter, title_, 2);
  const std::vector<PlotFrame> frames = layout();
  for (std::size_t i = 0; i < panels_.size(); ++i) {
    const Panel& p = panels_[i];
    const PlotFrame& f = frames[i];
    const std::vector<double> x_ticks = axis_ticks(f.x, f.x_scale, f.right - f.left, kPixelsPerXTick);
    const std::vector<double> y_ticks = axis_ticks(f.y, f.y_scale, f.bottom - f.top, kPixelsPerYTick);
    copy_into(image, plot_area(p.series_, f, x_ticks, y_ticks), f.left, f.top);
    draw_axes(image, f, x_ticks, y_ticks);
    const int caption_y = f.top - kCaptionRow;
    if (!p.y_label_.empty()) draw_text(image, f.left, caption_y, p.y_label_, kText, 1);
    if (!p.title_.empty()) draw_centred_text(image, (f.left + f.right) / 2, caption_y, p.title_, 1);
    if (!p.x_label_.empty())
      draw_centred_text(image, (f.left + f.right) / 2, f.bottom + 1 + kTickLength + kTickGap + kCaptionRow, p.x_label_,
                        1);
    draw_legend(image, f, p.series_, p.legend_);
  }
  return image;
}

}  // namespace ghm::io
