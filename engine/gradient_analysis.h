// The gradient-norm statistics behind the paper's Figures 2-4 ("Gradient Harmonized Single-stage
// Detector", Li, Liu, Wang, AAAI 2019), gathered from a model's outputs and the batch targets
// (detection/targets.h) by `ghm_retinanet analyze-gradients`.
//
// Classification (Fig. 2). Every valid element (anchor row r with label_weight > 0, class k) is
// one example with logit x and target y = [labels[r] == k]; its gradient norm under BCE is
//
//   g = |sigmoid(x) - y|                         (float32, as GHM-C computes it)
//
// and the histogram is the fraction of examples per g bin. The bins are GHM-C's: M equal bins over
// [0, 1], edges float32(i) / float32(M), g == 1 in the last bin (losses/ghm_math.h).
//
// Reformulated gradient (Fig. 3). Per g bin, the mean over the bin's examples of |dL/dx| for one
// example, with every loss taken as a plain sum over examples (no normaliser, which scales all
// examples alike and would only shift a curve on the log axis):
//
//   CE      |dL/dx| = g                          so the CE column is the bin's mean g
//   focal   FL = -a_t (1 - p_t)^gamma log p_t,   p_t = sigmoid(x) if y else 1 - sigmoid(x),
//           a_t = alpha if y else 1 - alpha:
//           |dFL/dx| = a_t (1 - p_t)^gamma ((1 - p_t) - gamma p_t log p_t)   (exact, per element,
//           in double from the logit; 1 - p_t = g)
//   GHM-C   |dL/dx| = w g with w = tot / (R_i n): tot the number of examples analysed, R_i the
//           count of the example's bin, n the number of non-empty bins. This is GHM-C without
//           momentum with the density of the whole analysed set (one call over every batch and
//           level), so sum(w) = tot, the mean weight is 1, and the curve shows which g the
//           harmonising lifts above CE (sparse bins) and which it pushes below (dense bins).
//
// The values are absolute, for plotting on a log axis; focal <= CE for alpha_t <= 0.75 at every g.
//
// Regression (Fig. 4). Over the 4 deltas of every positive anchor, d = pred - target and
//
//   ASL1    g = |d| / sqrt(d^2 + mu^2)           (GHM-R's gradient norm)
//   SL1     g = min(|d| / beta, 1)                (smooth L1's, saturated beyond beta)
//
// each histogrammed in the same bins.
//
// Layout: R anchor rows, K classes, M bins.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ghm::engine {

struct GradientAnalysisConfig {
  int bins = 30;              // M, 1..losses::kMaxGhmBins
  float focal_alpha = 0.25f;  // in [0, 1]
  float focal_gamma = 2.0f;   // >= 0
  float mu = 0.02f;           // ASL1, > 0
  float beta = 0.11f;         // smooth L1, > 0
};

// Counts of gradient norms per bin, their sums (for the bin means), and the tails g < 0.1, g > 0.9.
struct GradientHistogram {
  std::vector<std::int64_t> count;  // [M]
  std::vector<double> g_sum;        // [M]
  std::int64_t below_0_1 = 0;       // examples with g < 0.1
  std::int64_t above_0_9 = 0;       // examples with g > 0.9

  explicit GradientHistogram(int bins = 0);
  std::int64_t total() const;
  double fraction(int bin) const;   // count / total; 0 when there are no examples
  double mean_g(int bin) const;     // NaN for an empty bin
};

// One row of the reformulated-gradient table; the means are NaN for an empty bin.
struct ReformulatedBin {
  double g_lo = 0, g_hi = 0;  // the bin's edges
  std::int64_t count = 0;
  double mean_g = 0;
  double ce = 0, focal = 0, ghmc = 0;  // mean |dL/dx| of one example in the bin
};

class GradientStats {
 public:
  explicit GradientStats(const GradientAnalysisConfig& config);

  // cls_rows: [R, K] f32 logits; labels: [R] i64 in [0, K] (K: background or ignored);
  // label_weights: [R] f32 (> 0: valid). Throws on a non-finite logit of a valid row.
  void add_classification(const Tensor& cls_rows, const Tensor& labels, const Tensor& label_weights);
  // box_rows, box_targets: [R, 4] f32; positive_rows: the rows to use (each in [0, R)).
  void add_regression(const Tensor& box_rows, const Tensor& box_targets, std::span<const std::int64_t> positive_rows);

  const GradientAnalysisConfig& config() const { return config_; }
  const GradientHistogram& classification() const { return cls_; }
  std::int64_t positive_examples() const { return positives_; }  // classification examples with y = 1
  const GradientHistogram& asl1() const { return asl1_; }
  const GradientHistogram& sl1() const { return sl1_; }
  std::vector<ReformulatedBin> reformulated() const;  // [M]

  // The CSV tables (a header row, then one row per bin):
  //   classification: bin,g_lo,g_hi,count,fraction
  //   regression:     bin,g_lo,g_hi,asl1_count,asl1_fraction,sl1_count,sl1_fraction
  //   reformulated:   bin,g_lo,g_hi,count,mean_g,ce,focal,ghmc      ("nan" for an empty bin's means)
  std::string classification_csv() const;
  std::string regression_csv() const;
  std::string reformulated_csv() const;

 private:
  GradientAnalysisConfig config_;
  std::vector<float> edges_;  // [M + 1] GHM-C's bin edges
  GradientHistogram cls_, asl1_, sl1_;
  std::vector<double> focal_sum_;  // [M] sum of |dFL/dx| per classification bin
  std::int64_t positives_ = 0;
};

// The gradient norm of focal loss at logit x for target y (see the top of this file).
double focal_gradient_norm(float x, bool positive, float alpha, float gamma);

}  // namespace ghm::engine
