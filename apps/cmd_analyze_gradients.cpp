// `ghm_retinanet analyze-gradients`: the gradient-norm distributions of a trained model, the
// paper's Figures 2-4, as CSV files and PNG figures (the report is engine/gradient_report.h, the
// statistics engine/gradient_analysis.h).
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/gradient_report.h"

namespace ghm::app {

int run_analyze_gradients(const std::vector<std::string>& args) {
  const auto app = cli::make_command("analyze-gradients", "gradient-norm distributions of a checkpoint (the GHM "
                                                          "paper's Fig. 2-4: CSV + PNG)");
  engine::GradientReportOptions o;
  cli::add_config(*app, o.config_path);
  cli::add_checkpoint(*app, o.checkpoint);
  app->add_option("--out", o.out_dir, "where the CSV files and figures go (created if missing)")
      ->type_name("DIR")
      ->required();
  app->add_option("--batches", o.batches, "the first N batches of the training split")
      ->type_name("N")
      ->check(cli::integer_in(1, 1 << 20));
  app->add_option("--bins", o.bins, "equal bins over [0, 1]")->type_name("M")->check(cli::integer_in(1, 1 << 20));
  cli::add_overrides(*app, o.overrides);
  app->footer(
      "Runs the model (evaluation mode) over the first N batches of the training split, in training order but\n"
      "without augmentation, builds the training targets and writes to DIR:\n"
      "  classification_g.csv, fig2_classification_g.png\n"
      "      fraction of examples (valid anchor x class elements) per bin of g = |sigmoid(x) - y|\n"
      "  reformulated_gradient.csv, fig3_reformulated_gradient.png\n"
      "      per g bin, the mean |dL/dx| of one example under CE (= g), focal loss (loss.cls.alpha,\n"
      "      loss.cls.gamma) and GHM-C without momentum over the analysed examples (log scale)\n"
      "  regression_g.csv, fig4_regression_g.png\n"
      "      over the positive anchors' 4 deltas d = pred - target: the ASL1 gradient norm\n"
      "      |d| / sqrt(d^2 + mu^2) (loss.reg.mu) and the smooth L1 one min(|d| / beta, 1) (loss.reg.beta)\n"
      "A summary (the fractions with g < 0.1 and g > 0.9) is printed.");
  if (!cli::parse(*app, args)) return 0;
  engine::write_gradient_report(o);
  return 0;
}

}  // namespace ghm::app
