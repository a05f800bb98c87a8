// Gradient-norm histograms and the reformulated gradient per bin (see gradient_analysis.h).
//
// The loops read the row tensors directly (they are contiguous, [R, K] and [R, 4]); each example
// is binned with losses::ghm_bin, the same half-open float32 test GHM-C applies, so the
// classification histogram is exactly the R_i GHM-C would count over the same examples. Counts are
// integers and sums are doubles added in row order: the result does not depend on threads.
#include "engine/gradient_analysis.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/check.h"
#include "core/ops/elementwise_math.h"
#include "losses/ghm_math.h"

namespace ghm::engine {
namespace {

constexpr double kLowG = 0.1, kHighG = 0.9;  // the tails the summary reports

// log(sigmoid(z)) without overflow: -softplus(-z).
double log_sigmoid(double z) { return -(std::max(-z, 0.0) + std::log1p(std::exp(-std::abs(z)))); }

const GradientAnalysisConfig& checked(const GradientAnalysisConfig& c) {
  GHM_CHECK(c.bins >= 1 && c.bins <= losses::kMaxGhmBins, "analyze-gradients: bins ", c.bins, " is outside 1..",
            losses::kMaxGhmBins);
  GHM_CHECK(c.focal_alpha >= 0 && c.focal_alpha <= 1, "analyze-gradients: focal alpha ", c.focal_alpha,
            " is outside [0, 1]");
  GHM_CHECK(c.focal_gamma >= 0 && std::isfinite(c.focal_gamma), "analyze-gradients: focal gamma ", c.focal_gamma,
            " must be finite and >= 0");
  GHM_CHECK(c.mu > 0 && std::isfinite(c.mu), "analyze-gradients: mu ", c.mu, " must be positive");
  GHM_CHECK(c.beta > 0 && std::isfinite(c.beta), "analyze-gradients: beta ", c.beta, " must be positive");
  return c;
}

// Bins g (in [0, 1]) into `h`; returns the bin.
int add_to(GradientHistogram& h, float g, const std::vector<float>& edges) {
  const int bin = losses::ghm_bin(g, edges.data(), static_cast<int>(edges.size()) - 1);
  h.count[static_cast<std::size_t>(bin)] += 1;
  h.g_sum[static_cast<std::size_t>(bin)] += g;
  h.below_0_1 += g < kLowG;
  h.above_0_9 += g > kHighG;
  return bin;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "nan";
  char text[32];
  std::snprintf(text, sizeof text, "%.12g", v);
  return text;
}

std::string row_prefix(int bin, int bins) {
  return std::to_string(bin) + "," + format_value(static_cast<double>(bin) / bins) + "," +
         format_value(static_cast<double>(bin + 1) / bins);
}

}  // namespace

GradientHistogram::GradientHistogram(int bins)
    : count(static_cast<std::size_t>(bins), 0), g_sum(static_cast<std::size_t>(bins), 0.0) {}

std::int64_t GradientHistogram::total() const {
  std::int64_t n = 0;
  for (std::int64_t c : count) n += c;
  return n;
}

double GradientHistogram::fraction(int bin) const {
  const std::int64_t n = total();
  return n == 0 ? 0.0 : static_cast<double>(count[static_cast<std::size_t>(bin)]) / static_cast<double>(n);
}

double GradientHistogram::mean_g(int bin) const {
  const std::int64_t c = count[static_cast<std::size_t>(bin)];
  if (c == 0) return std::numeric_limits<double>::quiet_NaN();
  return g_sum[static_cast<std::size_t>(bin)] / static_cast<double>(c);
}

double focal_gradient_norm(float x, bool positive, float alpha, float gamma) {
  const double z = positive ? x : -static_cast<double>(x);  // the logit of the true class
  const double log_pt = log_sigmoid(z);
  const double pt = std::exp(log_pt), one_minus_pt = std::exp(log_sigmoid(-z));
  const double alpha_t = positive ? alpha : 1.0 - alpha;
  return alpha_t * std::pow(one_minus_pt, static_cast<double>(gamma)) * (one_minus_pt - gamma * pt * log_pt);
}

GradientStats::GradientStats(const GradientAnalysisConfig& config)
    : config_(checked(config)),
      cls_(config.bins),
      asl1_(config.bins),
      sl1_(config.bins),
      focal_sum_(static_cast<std::size_t>(config.bins), 0.0) {
  for (int i = 0; i < config.bins; ++i) edges_.push_back(static_cast<float>(i) / static_cast<float>(config.bins));
  edges_.push_back(losses::kGhmcLastEdge);
}

void GradientStats::add_classification(const Tensor& cls_rows, const Tensor& labels, const Tensor& label_weights) {
  check_dtype(cls_rows, DType::F32, "analyze-gradients", "cls_rows");
  check_dtype(labels, DType::I64, "analyze-gradients", "labels");
  check_dtype(label_weights, DType::F32, "analyze-gradients", "label_weights");
  GHM_CHECK(cls_rows.dim() == 2 && labels.dim() == 1 && label_weights.dim() == 1 &&
                labels.size(0) == cls_rows.size(0) && label_weights.size(0) == cls_rows.size(0),
            "analyze-gradients: logits ", cls_rows.shape(), ", labels ", labels.shape(), " and label weights ",
            label_weights.shape(), " must be [R, K], [R] and [R]");
  const std::int64_t rows = cls_rows.size(0), classes = cls_rows.size(1);
  const float* x = cls_rows.data<float>();
  const std::int64_t* label = labels.data<std::int64_t>();
  const float* weight = label_weights.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    if (!(weight[r] > 0)) continue;
    for (std::int64_t k = 0; k < classes; ++k) {
      const float logit = x[r * classes + k];
      GHM_CHECK(std::isfinite(logit), "analyze-gradients: the logit of row ", r, ", class ", k, " is ", logit);
      const bool positive = label[r] == k;
      const float g = std::abs(math::sigmoid(logit) - (positive ? 1.0f : 0.0f));
      const int bin = add_to(cls_, g, edges_);
      focal_sum_[static_cast<std::size_t>(bin)] +=
          focal_gradient_norm(logit, positive, config_.focal_alpha, config_.focal_gamma);
      positives_ += positive;
    }
  }
}

void GradientStats::add_regression(const Tensor& box_rows, const Tensor& box_targets,
                                   std::span<const std::int64_t> positive_rows) {
  check_dtype(box_rows, DType::F32, "analyze-gradients", "box_rows");
  check_dtype(box_targets, DType::F32, "analyze-gradients", "box_targets");
  GHM_CHECK(box_rows.dim() == 2 && box_rows.size(1) == 4 && box_targets.shape() == box_rows.shape(),
            "analyze-gradients: box deltas ", box_rows.shape(), " and targets ", box_targets.shape(),
            " must both be [R, 4]");
  const float* pred = box_rows.data<float>();
  const float* target = box_targets.data<float>();
  const float mu = config_.mu, beta = config_.beta;
  for (std::int64_t r : positive_rows) {
    GHM_CHECK(r >= 0 && r < box_rows.size(0), "analyze-gradients: positive row ", r, " is outside [0, ",
              box_rows.size(0), ")");
    for (int c = 0; c < 4; ++c) {
      const float d = pred[r * 4 + c] - target[r * 4 + c];
      GHM_CHECK(std::isfinite(d), "analyze-gradients: the box delta of row ", r, ", coordinate ", c, " is ", d);
      add_to(asl1_, std::abs(d) / std::sqrt(d * d + mu * mu), edges_);
      add_to(sl1_, std::min(std::abs(d) / beta, 1.0f), edges_);
    }
  }
}

std::vector<ReformulatedBin> GradientStats::reformulated() const {
  const std::int64_t tot = cls_.total();
  int nonempty = 0;
  for (std::int64_t c : cls_.count) nonempty += c > 0;
  std::vector<ReformulatedBin> out(static_cast<std::size_t>(config_.bins));
  for (int i = 0; i < config_.bins; ++i) {
    ReformulatedBin& b = out[static_cast<std::size_t>(i)];
    b.g_lo = static_cast<double>(i) / config_.bins;
    b.g_hi = static_cast<double>(i + 1) / config_.bins;
    b.count = cls_.count[static_cast<std::size_t>(i)];
    if (b.count == 0) {
      b.mean_g = b.ce = b.focal = b.ghmc = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    b.mean_g = cls_.mean_g(i);
    b.ce = b.mean_g;
    b.focal = focal_sum_[static_cast<std::size_t>(i)] / static_cast<double>(b.count);
    const double w = static_cast<double>(tot) / (static_cast<double>(b.count) * nonempty);
    b.ghmc = w * b.mean_g;
  }
  return out;
}

std::string GradientStats::classification_csv() const {
  std::string text = "bin,g_lo,g_hi,count,fraction\n";
  for (int i = 0; i < config_.bins; ++i)
    text += row_prefix(i, config_.bins) + "," + std::to_string(cls_.count[static_cast<std::size_t>(i)]) + "," +
            format_value(cls_.fraction(i)) + "\n";
  return text;
}

std::string GradientStats::regression_csv() const {
  std::string text = "bin,g_lo,g_hi,asl1_count,asl1_fraction,sl1_count,sl1_fraction\n";
  for (int i = 0; i < config_.bins; ++i)
    text += row_prefix(i, config_.bins) + "," + std::to_string(asl1_.count[static_cast<std::size_t>(i)]) + "," +
            format_value(asl1_.fraction(i)) + "," + std::to_string(sl1_.count[static_cast<std::size_t>(i)]) + "," +
            format_value(sl1_.fraction(i)) + "\n";
  return text;
}

std::string GradientStats::reformulated_csv() const {
  std::string text = "bin,g_lo,g_hi,count,mean_g,ce,focal,ghmc\n";
  const std::vector<ReformulatedBin> rows = reformulated();
  for (int i = 0; i < config_.bins; ++i) {
    const ReformulatedBin& b = rows[static_cast<std::size_t>(i)];
    text += row_prefix(i, config_.bins) + "," + std::to_string(b.count) + "," + format_value(b.mean_g) + "," +
            format_value(b.ce) + "," + format_value(b.focal) + "," + format_value(b.ghmc) + "\n";
  }
  return text;
}

}  // namespace ghm::engine
