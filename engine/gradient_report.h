// The gradient report behind `ghm_retinanet analyze-gradients`: the gradient-norm distributions of
// a trained model, the paper's Figures 2-4 (the statistics are gradient_analysis.h), as CSV files,
// PNG figures and a summary.
//
// The batches are the first N of the training epoch 0 plan (train.batch_size, train.seed, aspect
// grouping as configured), so they are the images training saw first, but loaded without
// augmentation: data.test_short_side and no flip, so the same options give the same numbers.
// The model runs in evaluation mode (BatchNorm uses its running statistics) without autograd;
// targets come from detection/targets.h with the training assigner, exactly as training builds
// them. The focal, ASL1 and smooth L1 parameters are the config's (loss.cls.alpha, loss.cls.gamma,
// loss.reg.mu, loss.reg.beta).
//
// Output, in the output folder:
//   classification_g.csv       fig2_classification_g.png     fraction of examples per g bin
//   reformulated_gradient.csv  fig3_reformulated_gradient.png mean |dL/dx| per bin: CE, focal, GHM-C
//   regression_g.csv           fig4_regression_g.png         ASL1 and SL1 gradient norms of deltas
// and a summary on stdout (the fractions with g < 0.1 and g > 0.9).
#pragma once

#include <string>
#include <vector>

namespace ghm::engine {

struct GradientReportOptions {
  std::string config_path;             // YAML config (docs/config.md)
  std::vector<std::string> overrides;  // key=value config overrides, applied in order
  std::string checkpoint;              // a checkpoint, or a work directory (its newest)
  std::string out_dir;                 // created if missing
  int batches = 4;                     // the first N batches of the training split
  int bins = 30;                       // equal bins over [0, 1]
};

// Runs the analysis, writes the three CSV files and three figures, and prints the summary.
void write_gradient_report(const GradientReportOptions& options);

}  // namespace ghm::engine
