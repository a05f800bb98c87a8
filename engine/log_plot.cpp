// The training-log plot of log_plot.h: reads the log's lines into curves and draws two panels
// (io/plot.h) sharing the iteration axis.
#include "engine/log_plot.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <vector>

#include "core/check.h"
#include "io/image.h"
#include "io/input_file.h"
#include "io/json.h"
#include "io/plot.h"

namespace ghm::engine {
namespace {

constexpr double kLogRatio = 50;
constexpr int kFigureWidth = 960, kFigureHeight = 720;

struct TrainingCurves {
  std::vector<double> iteration, loss, loss_cls, loss_reg, lr;
};

TrainingCurves read_log(const std::string& path) {
  std::istringstream in(io::read_input_text(path, "training log", io::json_limit()));
  TrainingCurves c;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const io::Json entry = io::Json::parse(line, path + " line " + std::to_string(number));
    c.iteration.push_back(entry.at("iteration").as_double());
    c.loss.push_back(entry.at("loss").as_double());
    c.loss_cls.push_back(entry.at("loss_cls").as_double());
    c.loss_reg.push_back(entry.at("loss_reg").as_double());
    c.lr.push_back(entry.at("lr").as_double());
  }
  GHM_CHECK(!c.iteration.empty(), path, ": no iterations logged (the file has no JSON lines)");
  return c;
}

io::Scale choose_scale(LogPlotScale choice, const std::vector<const std::vector<double>*>& series) {
  if (choice != LogPlotScale::Auto) return choice == LogPlotScale::Log ? io::Scale::Log : io::Scale::Linear;
  double lo = 0, hi = 0;
  bool first = true;
  for (const std::vector<double>* s : series)
    for (double v : *s) {
      if (!(v > 0)) return io::Scale::Linear;
      lo = first ? v : std::min(lo, v), hi = first ? v : std::max(hi, v), first = false;
    }
  return hi > kLogRatio * lo ? io::Scale::Log : io::Scale::Linear;
}

std::string run_name(const std::string& log_path) {
  const std::filesystem::path dir = std::filesystem::absolute(log_path).parent_path();
  return dir.filename().string();
}

io::Figure curves_figure(const TrainingCurves& c, const std::string& name, LogPlotScale scale) {
  char title[256];
  std::snprintf(title, sizeof title, "%s: training curves (%lld iterations)", name.c_str(),
                static_cast<long long>(c.iteration.back()));
  io::Figure fig(kFigureWidth, kFigureHeight, title);
  io::Panel& losses = fig.add_panel(2.0);
  losses.set_y_label("loss").set_y_scale(choose_scale(scale, {&c.loss, &c.loss_cls, &c.loss_reg}));
  losses.add_line("loss", c.iteration, c.loss, io::plot_color(0));
  losses.add_line("loss_cls", c.iteration, c.loss_cls, io::plot_color(1));
  losses.add_line("loss_reg", c.iteration, c.loss_reg, io::plot_color(2));
  const io::Range x = losses.x_range();
  losses.set_x_range(x.lo, x.hi);
  io::Panel& lr = fig.add_panel(1.0);
  lr.set_x_label("iteration").set_y_label("learning rate").set_x_range(x.lo, x.hi);
  lr.set_y_scale(choose_scale(scale, {&c.lr}));
  lr.add_line("", c.iteration, c.lr, io::plot_color(3));
  return fig;
}

}  // namespace

void plot_training_log(const LogPlotOptions& options) {
  const std::string out = options.out.empty()
                              ? (std::filesystem::path(options.log_path).parent_path() / "curves.png").string()
                              : options.out;
  const TrainingCurves curves = read_log(options.log_path);
  io::write_png(out, curves_figure(curves, run_name(options.log_path), options.y_scale).render());
  std::printf("%s: %zu logged iterations (last %lld, loss %.4f) -> %s\n", options.log_path.c_str(),
              curves.iteration.size(), static_cast<long long>(curves.iteration.back()), curves.loss.back(),
              out.c_str());
}

}  // namespace ghm::engine
