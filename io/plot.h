// Charts rendered to an io::Image: the training curves of `plot` and the gradient-norm figures of
// `analyze-gradients`. A Figure is a title over panels stacked top to bottom; a Panel is one pair
// of axes holding series (lines, points, bars) with tick labels, grid lines, axis labels and a
// legend.
//
//   io::Figure fig(960, 720, "run: loss and learning rate");
//   io::Panel& top = fig.add_panel(2.0);   // twice the height of a panel added with 1.0
//   top.set_y_scale(io::Scale::Log).set_x_label("iteration").set_y_label("loss");
//   top.add_line("loss", iterations, losses, io::plot_color(0));
//   io::write_png("curves.png", fig.render());
//
// Ranges. An axis without set_*_range takes the range of its data, widened to whole tick steps
// (linear) or to whole powers of ten (log); bars count with their full width, and a linear y axis
// holding bars starts at 0 or below. A range of one value is widened around it, and an axis
// without data gets [0, 1] (linear) or [1, 10] (log). Explicit ranges are used as given.
//
// Ticks. Linear axes: multiples of a "nice" step (1, 2 or 5 times a power of ten) inside the
// range, about five to ten of them. Log axes: the powers of ten inside the range (every k-th one
// when there are more than ten), or the 1x, 2x and 5x multiples when it holds fewer than three.
//
// Data. Points with a non-finite coordinate, or a non-positive one on a log axis, are not drawn,
// and a line is broken there (so NaN marks a gap). Lines, points and bars are clipped to the plot
// area. Bars rise from the bottom of the y range (linear: from 0 when 0 is inside it).
//
// Pixels. A PlotFrame maps data to image coordinates: the range's ends map to the centres of the
// plot area's first and last pixel columns (rows), y upwards. Text is io/draw.h's font at scale 1
// (the figure's title at scale 2).
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "io/draw.h"
#include "io/image.h"

namespace ghm::io {

enum class Scale { Linear, Log };
enum class Mark { Line, Points, Bars };
enum class LegendCorner { TopRight, TopLeft, BottomRight, BottomLeft };

struct Range {
  double lo = 0, hi = 1;
};

// Multiples of step (1, 2 or 5 x 10^k) inside [lo, hi], at least two and about `target` of them.
// Requires finite lo < hi and target >= 2.
struct Ticks {
  std::vector<double> values;
  double step = 0;
};
Ticks nice_ticks(double lo, double hi, int target = 6);
// Tick values for a log axis over [lo, hi], 0 < lo < hi (see Ticks above).
std::vector<double> log_ticks(double lo, double hi);
// A tick label: six significant digits at most, no trailing zeros ("0.25", "1200"), and a short
// exponent for very small or large values ("2e-5", "1.5e6").
std::string format_tick(double value);

// A colour for the i-th series of a chart (i >= 0): ten distinct hues, then repeated.
Rgb plot_color(int index);

struct Series {
  std::string name;            // legend text; "" keeps the series out of the legend
  std::vector<double> x, y;    // [n] each
  Rgb color;
  Mark mark = Mark::Line;
  double bar_width = 0;        // Mark::Bars: in x units
};

// Where a panel's data lands in the image.
struct PlotFrame {
  int left = 0, top = 0, right = 0, bottom = 0;  // the plot area, [left, right) x [top, bottom)
  Range x, y;                                      // the resolved ranges
  Scale x_scale = Scale::Linear, y_scale = Scale::Linear;
  double pixel_x(double x) const;                  // image coordinate of data x
  double pixel_y(double y) const;
};

class Panel {
 public:
  Panel& set_title(std::string title);
  Panel& set_x_label(std::string label);
  Panel& set_y_label(std::string label);
  Panel& set_x_range(double lo, double hi);  // lo < hi, finite (and lo > 0 on a log axis)
  Panel& set_y_range(double lo, double hi);
  Panel& set_x_scale(Scale scale);
  Panel& set_y_scale(Scale scale);
  Panel& set_legend(LegendCorner corner);

  Panel& add(Series series);  // x and y must have the same length
  Panel& add_line(std::string name, std::vector<double> x, std::vector<double> y, Rgb color);
  Panel& add_points(std::string name, std::vector<double> x, std::vector<double> y, Rgb color);
  Panel& add_bars(std::string name, std::vector<double> x, std::vector<double> y, double width, Rgb color);

  // The axis ranges as they will be drawn (explicit, or from the data as described above).
  Range x_range() const;
  Range y_range() const;
  Scale x_scale() const { return x_scale_; }
  Scale y_scale() const { return y_scale_; }

 private:
  friend class Figure;
  std::string title_, x_label_, y_label_;
  bool x_fixed_ = false, y_fixed_ = false;
  Range x_range_, y_range_;
  Scale x_scale_ = Scale::Linear, y_scale_ = Scale::Linear;
  LegendCorner legend_ = LegendCorner::TopRight;
  std::vector<Series> series_;
};

class Figure {
 public:
  // width, height: 64..16384 pixels.
  Figure(int width, int height, std::string title = "");

  // A new panel below the others; panels share the height in proportion to `height_share` (> 0).
  // The reference stays valid for the figure's lifetime.
  Panel& add_panel(double height_share = 1.0);

  // Each panel's frame in render()'s image. Throws when a plot area would be smaller than 16 x 16
  // pixels (too many panels, or a figure too small for its labels).
  std::vector<PlotFrame> layout() const;
  Image render() const;

 private:
  int width_, height_;
  std::string title_;
  std::deque<Panel> panels_;  // a deque: add_panel's references stay valid
  std::vector<double> shares_;
};

}  // namespace ghm::io
