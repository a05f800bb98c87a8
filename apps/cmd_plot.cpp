// `ghm_retinanet plot`: the training curves of a work directory's log.jsonl (engine/trainer.h) as
// one PNG: the losses (loss, loss_cls, loss_reg) on top and the learning rate below, both against
// the iteration.
//
// Scales: with --y-scale auto (the default) a panel's y axis is logarithmic when all its values
// are positive and the largest is more than kLogRatio times the smallest (a loss falling by orders
// of magnitude, an lr with warmup from 0.001x and step decays), linear otherwise.
//
// Errors name the file, and for a bad line its 1-based line number: a missing or unreadable file,
// a line that is not JSON or lacks one of the keys, a log without iterations.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "core/check.h"
#include "io/image.h"
#include "io/json.h"
#include "io/plot.h"

namespace ghm::app {
namespace {

constexpr double kLogRatio = 50;
constexpr int kFigureWidth = 960, kFigureHeight = 720;

enum class YScaleChoice { Auto, Linear, Log };

struct TrainingCurves {
  std::vector<double> iteration, loss, loss_cls, loss_reg, lr;
};

TrainingCurves read_log(const std::string& path) {
  std::ifstream in(path);
  GHM_CHECK(in.good(), path, ": cannot open the training log (no such file, or not readable)");
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
  GHM_CHECK(!in.bad(), path, ": read error");
  GHM_CHECK(!c.iteration.empty(), path, ": no iterations logged (the file has no JSON lines)");
  return c;
}

io::Scale choose_scale(YScaleChoice choice, const std::vector<const std::vector<double>*>& series) {
  if (choice != YScaleChoice::Auto) return choice == YScaleChoice::Log ? io::Scale::Log : io::Scale::Linear;
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

io::Figure curves_figure(const TrainingCurves& c, const std::string& name, YScaleChoice scale) {
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

int run_plot(const std::vector<std::string>& args) {
  const auto app = cli::make_command("plot", "draw a training log's loss and learning-rate curves as a PNG");
  std::string log_path, out, scale_name = "auto";
  app->add_option("--log", log_path, "the log.jsonl that `train` writes in its work directory")
      ->type_name("WORK_DIR/log.jsonl")
      ->required();
  app->add_option("--out", out, "the PNG (default: curves.png next to the log)")->type_name("FILE.png");
  app->add_option("--y-scale", scale_name, "auto: a log axis for a panel whose positive values span more than a "
                                          "factor of 50; linear or log: that scale on both panels")
      ->check(CLI::IsMember({"auto", "linear", "log"}));
  app->footer("Draws loss, loss_cls and loss_reg against the iteration (top) and the learning rate (bottom).");
  if (!cli::parse(*app, args)) return 0;
  const YScaleChoice scale = scale_name == "auto" ? YScaleChoice::Auto
                             : scale_name == "log" ? YScaleChoice::Log
                                                   : YScaleChoice::Linear;
  if (out.empty()) out = (std::filesystem::path(log_path).parent_path() / "curves.png").string();

  const TrainingCurves curves = read_log(log_path);
  io::write_png(out, curves_figure(curves, run_name(log_path), scale).render());
  std::printf("%s: %zu logged iterations (last %lld, loss %.4f) -> %s\n", log_path.c_str(), curves.iteration.size(),
              static_cast<long long>(curves.iteration.back()), curves.loss.back(), out.c_str());
  return 0;
}

}  // namespace ghm::app
