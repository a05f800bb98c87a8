// `ghm_retinanet plot`: the training curves of a work directory's log.jsonl as one PNG (the plot is
// engine/log_plot.h).
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/log_plot.h"

namespace ghm::app {

int run_plot(const std::vector<std::string>& args) {
  const auto app = cli::make_command("plot", "draw a training log's loss and learning-rate curves as a PNG");
  engine::LogPlotOptions o;
  std::string scale = "auto";
  app->add_option("--log", o.log_path, "the log.jsonl that `train` writes in its work directory")
      ->type_name("WORK_DIR/log.jsonl")
      ->required();
  app->add_option("--out", o.out, "the PNG (default: curves.png next to the log)")->type_name("FILE.png");
  app->add_option("--y-scale", scale, "auto: a log axis for a panel whose positive values span more than a "
                                      "factor of 50; linear or log: that scale on both panels")
      ->check(CLI::IsMember({"auto", "linear", "log"}));
  app->footer("Draws loss, loss_cls and loss_reg against the iteration (top) and the learning rate (bottom).");
  if (!cli::parse(*app, args)) return 0;
  o.y_scale = scale == "auto" ? engine::LogPlotScale::Auto
              : scale == "log" ? engine::LogPlotScale::Log
                               : engine::LogPlotScale::Linear;
  engine::plot_training_log(o);
  return 0;
}

}  // namespace ghm::app
