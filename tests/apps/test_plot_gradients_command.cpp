// `plot` and `analyze-gradients` end to end on the tiny shapes run of test_train_command.cpp
// (two epochs, trained in-process), and the gradient statistics on hand-made inputs whose
// histograms, tails and per-bin gradients are known: the focal column against the autograd
// gradient of sigmoid_focal_loss, the GHM-C column against ghm_c_forward's weights.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "engine/config.h"
#include "engine/gradient_analysis.h"
#include "engine/trainer.h"
#include "core/check.h"
#include "io/image.h"
#include "tiny_detector.h"
#include "losses/baselines.h"
#include "losses/ghm_c.h"

using namespace ghm;
namespace fs = std::filesystem;

namespace {

// The tiny detector (tiny_detector.h), trained for two epochs once per process.
struct TinyRun : testing::TinyDetector {
  fs::path work_dir;
  std::string checkpoint;
  TinyRun()
      : TinyDetector("plot_cmd",
                     "  batch_size: 4\n"
                     "  epochs: 2\n"
                     "  lr: 0.01\n"
                     "  warmup_iters: 2\n"
                     "  warmup_ratio: 0.1\n"
                     "  steps: [1]\n"
                     "  log_interval: 1\n") {
    work_dir = root / "run";
    engine::TrainOptions options;
    options.work_dir = work_dir.string();
    options.quiet = true;
    checkpoint = engine::train_detector(engine::load_config(config.string(), {}), options).last_checkpoint;
  }
};

const TinyRun& tiny_run() {
  static const TinyRun r;
  return r;
}

// A CSV file as its header and rows of numbers ("nan" parses as NaN).
struct Csv {
  std::string header;
  std::vector<std::vector<double>> rows;
};

Csv read_csv(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), path.string());
  Csv csv;
  std::getline(in, csv.header);
  for (std::string line; std::getline(in, line);) {
    std::vector<double> row;
    std::stringstream fields(line);
    for (std::string f; std::getline(fields, f, ',');) row.push_back(std::stod(f));
    csv.rows.push_back(row);
  }
  return csv;
}

double column_sum(const Csv& csv, std::size_t column) {
  double sum = 0;
  for (const std::vector<double>& row : csv.rows) sum += row[column];
  return sum;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

Tensor f32(const std::vector<float>& values, Shape shape) { return Tensor::from_vector<float>(values, shape); }

// The logit whose sigmoid is p.
float logit(double p) { return static_cast<float>(std::log(p / (1 - p))); }

}  // namespace

TEST_CASE("plot: a training log becomes a two-panel PNG") {
  const TinyRun& r = tiny_run();
  const fs::path png = r.root / "curves.png";
  REQUIRE(app::run_plot({"--log", (r.work_dir / "log.jsonl").string(), "--out", png.string()}) == 0);
  const io::Image image = io::read_image(png.string());
  CHECK(image.width == 960);
  CHECK(image.height == 720);
  // The default output goes next to the log; a forced scale is accepted.
  REQUIRE(app::run_plot({"--log", (r.work_dir / "log.jsonl").string(), "--y-scale", "log"}) == 0);
  CHECK(fs::exists(r.work_dir / "curves.png"));
}

TEST_CASE("plot: a missing log, a line that is not JSON, a missing key and an empty log name the file and line") {
  const TinyRun& r = tiny_run();
  const fs::path missing = r.root / "nowhere" / "log.jsonl";
  CHECK_THROWS_WITH_AS(app::run_plot({"--log", missing.string()}), doctest::Contains(missing.string().c_str()), Error);

  const std::string good = "{\"iteration\": 1, \"lr\": 0.01, \"loss\": 2, \"loss_cls\": 1.5, \"loss_reg\": 0.5}\n";
  const fs::path broken = r.root / "broken.jsonl";
  write_text(broken, good + "\n" + "iteration 2 loss 1.9\n");
  const std::string line_3 = broken.string() + " line 3";
  CHECK_THROWS_WITH_AS(app::run_plot({"--log", broken.string()}), doctest::Contains(line_3.c_str()), Error);

  const fs::path no_key = r.root / "no_key.jsonl";
  write_text(no_key, good + "{\"iteration\": 2, \"lr\": 0.01, \"loss\": 2, \"loss_reg\": 0.5}\n");
  bool threw = false;
  try {
    app::run_plot({"--log", no_key.string()});
  } catch (const Error& e) {
    threw = true;
    const std::string what = e.what();
    CAPTURE(what);
    CHECK(what.find(no_key.string() + " line 2") != std::string::npos);
    CHECK(what.find("loss_cls") != std::string::npos);
  }
  CHECK(threw);

  const fs::path empty = r.root / "empty.jsonl";
  write_text(empty, "\n\n");
  CHECK_THROWS_WITH_AS(app::run_plot({"--log", empty.string()}), doctest::Contains("no iterations"), Error);
  CHECK_THROWS_AS(app::run_plot({}), app::UsageError);
  CHECK_THROWS_AS(app::run_plot({"--log", empty.string(), "--y-scale", "cubic"}), app::UsageError);
}

TEST_CASE("analyze-gradients: CSV tables and figures from a checkpoint") {
  const TinyRun& r = tiny_run();
  const fs::path out = r.root / "gradients";
  REQUIRE(app::run_analyze_gradients({"--config", r.config.string(), "--checkpoint", r.checkpoint, "--out",
                                      out.string(), "--batches", "2"}) == 0);
  for (const char* png : {"fig2_classification_g.png", "fig3_reformulated_gradient.png", "fig4_regression_g.png"}) {
    CAPTURE(png);
    const io::Image image = io::read_image((out / png).string());
    CHECK(image.width == 800);
    CHECK(image.height == 520);
  }
  // fractions are counts / total written with 12 significant digits: their sum is 1 within 1e-6
  const Csv cls = read_csv(out / "classification_g.csv");
  CHECK(cls.header == "bin,g_lo,g_hi,count,fraction");
  REQUIRE(cls.rows.size() == 30);
  CHECK(column_sum(cls, 4) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(column_sum(cls, 3) > 0);
  for (std::size_t i = 0; i < cls.rows.size(); ++i) {
    CHECK(cls.rows[i][0] == static_cast<double>(i));
    CHECK(cls.rows[i][1] == doctest::Approx(static_cast<double>(i) / 30));
  }

  const Csv reg = read_csv(out / "regression_g.csv");
  CHECK(reg.header == "bin,g_lo,g_hi,asl1_count,asl1_fraction,sl1_count,sl1_fraction");
  REQUIRE(reg.rows.size() == 30);
  REQUIRE(column_sum(reg, 3) > 0);  // the shapes images always have positive anchors
  CHECK(column_sum(reg, 3) == column_sum(reg, 5));  // both count every delta once
  CHECK(column_sum(reg, 4) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(column_sum(reg, 6) == doctest::Approx(1.0).epsilon(1e-6));

  const Csv ref = read_csv(out / "reformulated_gradient.csv");
  CHECK(ref.header == "bin,g_lo,g_hi,count,mean_g,ce,focal,ghmc");
  REQUIRE(ref.rows.size() == 30);
  int nonempty = 0;
  for (std::size_t i = 0; i < ref.rows.size(); ++i) {
    const std::vector<double>& row = ref.rows[i];
    CAPTURE(i);
    CHECK(row[3] == cls.rows[i][3]);  // the same examples, the same bins
    if (row[3] == 0) {
      CHECK(std::isnan(row[5]));
      continue;
    }
    ++nonempty;
    // the bin mean lies in the bin (the float32 edges differ from i/30 by < 1e-6)
    CHECK(row[4] >= row[1] - 1e-6);
    CHECK(row[4] <= row[2] + 1e-6);
    CHECK(row[5] == row[4]);  // CE's gradient norm is g itself
    CHECK(row[6] <= row[5]);  // focal loss never exceeds CE for alpha_t <= 0.75
    CHECK(row[6] > 0);
    CHECK(row[7] > 0);
  }
  // GHM-C's weights average to one over the examples: sum over bins of count * w = total count,
  // with w = ghmc / mean_g (relative 1e-9: a sum of 30 doubles printed with 12 digits)
  double weighted = 0;
  for (const std::vector<double>& row : ref.rows)
    if (row[3] > 0) weighted += row[3] * row[7] / row[4];
  CHECK(weighted == doctest::Approx(column_sum(ref, 3)).epsilon(1e-9));
  CHECK(nonempty > 1);

  // --bins changes the tables' length.
  REQUIRE(app::run_analyze_gradients({"--config", r.config.string(), "--checkpoint", r.checkpoint, "--out",
                                      out.string(), "--batches", "1", "--bins", "10"}) == 0);
  CHECK(read_csv(out / "classification_g.csv").rows.size() == 10);
  CHECK(read_csv(out / "regression_g.csv").rows.size() == 10);
}

TEST_CASE("analyze-gradients: bad options and files are errors naming them") {
  const TinyRun& r = tiny_run();
  const std::string cfg = r.config.string(), out = (r.root / "bad").string();
  CHECK_THROWS_AS(app::run_analyze_gradients({"--config", cfg, "--checkpoint", r.checkpoint}), app::UsageError);
  CHECK_THROWS_WITH_AS(
      app::run_analyze_gradients({"--config", cfg, "--checkpoint", r.checkpoint, "--out", out, "--batches", "0"}),
      doctest::Contains("analyze-gradients: --batches: must be in 1..1048576, got 0"), app::UsageError);
  CHECK_THROWS_WITH_AS(
      app::run_analyze_gradients({"--config", cfg, "--checkpoint", r.checkpoint, "--out", out, "--bins", "500"}),
      doctest::Contains("bins 500"), Error);
  const std::string missing = (r.root / "missing.safetensors").string();
  CHECK_THROWS_WITH_AS(app::run_analyze_gradients({"--config", cfg, "--checkpoint", missing, "--out", out}),
                       doctest::Contains(missing.c_str()), Error);
}

TEST_CASE("gradient statistics: hand-made logits and deltas land in the bins they must") {
  engine::GradientAnalysisConfig config;
  config.bins = 10;
  engine::GradientStats stats(config);
  // K = 2 classes; rows: a positive of class 0, a background row, a positive of class 1, and an
  // ignored row (label weight 0) whose logits must not count. g per valid element, by design:
  //   row 0: class 0 positive, p 0.95 -> g 0.05 (bin 0); class 1 negative, p 0.35 -> g 0.35 (bin 3)
  //   row 1: negative p 0.05 -> g 0.05 (bin 0); negative p 0.75 -> g 0.75 (bin 7)
  //   row 2: negative p 0.95 -> g 0.95 (bin 9); class 1 positive, p 0.45 -> g 0.55 (bin 5)
  const Tensor logits = f32({logit(0.95), logit(0.35), logit(0.05), logit(0.75), logit(0.95), logit(0.45), 50, -50},
                            Shape{4, 2});
  const Tensor labels = Tensor::from_vector<std::int64_t>({0, 2, 1, 0}, Shape{4});
  const Tensor weights = f32({1, 1, 1, 0}, Shape{4});
  stats.add_classification(logits, labels, weights);

  const engine::GradientHistogram& h = stats.classification();
  CHECK(h.count == std::vector<std::int64_t>{2, 0, 0, 1, 0, 1, 0, 1, 0, 1});
  CHECK(h.total() == 6);
  CHECK(stats.positive_examples() == 2);
  CHECK(h.below_0_1 == 2);
  CHECK(h.above_0_9 == 1);
  CHECK(h.fraction(0) == doctest::Approx(2.0 / 6));
  CHECK(h.fraction(1) == 0.0);
  CHECK(std::isnan(h.mean_g(1)));

  const std::vector<engine::ReformulatedBin> bins = stats.reformulated();
  REQUIRE(bins.size() == 10);
  const double expected_g[10] = {0.05, 0, 0, 0.35, 0, 0.55, 0, 0.75, 0, 0.95};
  // GHM-C without momentum: tot 6 examples, n 5 non-empty bins, w = 6 / (R_i * 5)
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    const engine::ReformulatedBin& b = bins[static_cast<std::size_t>(i)];
    if (b.count == 0) {
      CHECK(std::isnan(b.ce));
      continue;
    }
    // g from a float32 sigmoid of a float32 logit: 1e-6 absolute
    CHECK(b.mean_g == doctest::Approx(expected_g[i]).epsilon(1e-5));
    CHECK(b.ce == b.mean_g);
    CHECK(b.ghmc == doctest::Approx(6.0 / (static_cast<double>(b.count) * 5) * b.mean_g).epsilon(1e-12));
    CHECK(b.focal < b.ce);
  }

  // Focal: the mean |dFL/dx| of each bin's elements, from the autograd gradient of the focal loss
  // summed over the valid elements (avg_factor 1). fp32 loss kernel: rtol 1e-5.
  Tensor pred = logits.clone().detach();
  pred.set_requires_grad(true);
  losses::sigmoid_focal_loss(pred, labels, weights, 1.0).backward();
  const std::vector<float> d_focal = pred.grad().to_vector<float>();
  const int element_bin[6] = {0, 3, 0, 7, 9, 5};
  double focal_sum[10] = {};
  for (int e = 0; e < 6; ++e) focal_sum[element_bin[e]] += std::abs(d_focal[static_cast<std::size_t>(e)]);
  for (int i = 0; i < 10; ++i) {
    const engine::ReformulatedBin& b = bins[static_cast<std::size_t>(i)];
    if (b.count > 0) CHECK(b.focal == doctest::Approx(focal_sum[i] / static_cast<double>(b.count)).epsilon(1e-5));
  }

  // GHM-C: the per-element weights of ghm_c_forward (no momentum, one call) times g, per bin.
  losses::GhmEmaState state(10);
  const losses::GhmcResult ghm = losses::ghm_c_forward(logits, labels, weights, losses::GhmSettings::classification(),
                                                       state, {}, losses::ElementWeights::Keep);
  const std::vector<float> w = ghm.element_weight.to_vector<float>();
  const double g_of[6] = {0.05, 0.35, 0.05, 0.75, 0.95, 0.55};
  double ghmc_sum[10] = {};
  for (int e = 0; e < 6; ++e) ghmc_sum[element_bin[e]] += w[static_cast<std::size_t>(e)] * g_of[e];
  for (int i = 0; i < 10; ++i) {
    const engine::ReformulatedBin& b = bins[static_cast<std::size_t>(i)];
    if (b.count > 0) CHECK(b.ghmc == doctest::Approx(ghmc_sum[i] / static_cast<double>(b.count)).epsilon(1e-5));
  }
  CHECK(w[6] == 0.0f);  // the ignored row
}

TEST_CASE("gradient statistics: regression deltas of the positive rows only, CSV layout, bad inputs") {
  engine::GradientAnalysisConfig config;
  config.bins = 10;  // mu 0.02, beta 0.11
  engine::GradientStats stats(config);
  // d = pred - target per coordinate (targets 0). ASL1 g = |d| / sqrt(d^2 + 0.0004); SL1 min(|d| / 0.11, 1):
  //   row 0: d 0 (0, 0), 0.02 (0.707 bin 7, 0.18 bin 1), 1 (0.9998 bin 9, 1 bin 9), -0.01 (0.447 bin 4, 0.09 bin 0)
  //   row 2: d 0.5 (bin 9, 1 bin 9), -0.05 (0.928 bin 9, 0.45 bin 4), 0.1 (0.98 bin 9, 0.91 bin 9),
  //          0.2 (bin 9, 1 bin 9)
  // Row 1 is not positive: its NaN must not be read.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor pred = f32({0, 0.02f, 1, -0.01f, nan, nan, nan, nan, 0.5f, -0.05f, 0.1f, 0.2f}, Shape{3, 4});
  const Tensor target = Tensor::zeros({3, 4});
  const std::vector<std::int64_t> positive_rows = {0, 2};
  stats.add_regression(pred, target, positive_rows);
  CHECK(stats.asl1().count == std::vector<std::int64_t>{1, 0, 0, 0, 1, 0, 0, 1, 0, 5});
  CHECK(stats.sl1().count == std::vector<std::int64_t>{2, 1, 0, 0, 1, 0, 0, 0, 0, 4});
  CHECK(stats.asl1().below_0_1 == 1);
  CHECK(stats.asl1().above_0_9 == 5);
  CHECK(stats.sl1().above_0_9 == 4);
  CHECK(stats.sl1().mean_g(9) == doctest::Approx((1 + 1 + 0.1 / 0.11 + 1) / 4).epsilon(1e-6));

  const std::string csv = stats.regression_csv();
  CHECK(csv.starts_with("bin,g_lo,g_hi,asl1_count,asl1_fraction,sl1_count,sl1_fraction\n0,0,0.1,1,0.125,2,0.25\n"));
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 11);
  // No classification examples: empty bins everywhere, NaN means.
  const std::string reformulated = stats.reformulated_csv();
  CHECK(reformulated.find("\n3,0.3,0.4,0,nan,nan,nan,nan\n") != std::string::npos);

  const std::vector<std::int64_t> outside = {3};
  CHECK_THROWS_WITH_AS(stats.add_regression(pred, target, outside), doctest::Contains("positive row 3"), Error);
  const std::vector<std::int64_t> nan_row = {1};
  CHECK_THROWS_WITH_AS(stats.add_regression(pred, target, nan_row), doctest::Contains("row 1"), Error);
  CHECK_THROWS_AS(stats.add_regression(pred, Tensor::zeros({3, 2}), positive_rows), Error);
  const Tensor bad_logits = f32({nan, 0}, Shape{1, 2});
  CHECK_THROWS_WITH_AS(stats.add_classification(bad_logits, Tensor::from_vector<std::int64_t>({2}, Shape{1}),
                                                 f32({1}, Shape{1})),
                       doctest::Contains("row 0, class 0"), Error);
  CHECK_THROWS_AS(stats.add_classification(bad_logits, Tensor::from_vector<std::int64_t>({2, 2}, Shape{2}),
                                           f32({1, 1}, Shape{2})),
                  Error);
  engine::GradientAnalysisConfig bad;
  bad.bins = 0;
  CHECK_THROWS_WITH_AS(engine::GradientStats{bad}, doctest::Contains("bins 0"), Error);
  bad.bins = 10;
  bad.mu = 0;
  CHECK_THROWS_WITH_AS(engine::GradientStats{bad}, doctest::Contains("mu"), Error);
}
