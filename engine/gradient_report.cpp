// The gradient report of gradient_report.h: the model over the first batches feeding
// GradientStats, then the CSV files, the three figures (io/plot.h) and the summary.
#include "engine/gradient_report.h"

#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/autograd.h"
#include "core/check.h"
#include "detection/targets.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/detection_data.h"
#include "engine/gradient_analysis.h"
#include "io/output_file.h"
#include "io/image.h"
#include "io/plot.h"

namespace ghm::engine {
namespace {

constexpr int kFigureWidth = 800, kFigureHeight = 520;

std::vector<detection::ImageGroundTruth> ground_truth(const io::Batch& batch) {
  std::vector<detection::ImageGroundTruth> out;
  for (const io::Sample& s : batch.samples) out.push_back({s.boxes, s.labels, s.crowd_boxes, input_size(s)});
  return out;
}

struct AnalysedData {
  int batches = 0;
  std::int64_t images = 0;
  std::int64_t positive_anchors = 0;
};

// Runs the model over the batches and feeds the outputs and targets to `stats`.
AnalysedData analyse_batches(const io::Json& config, const GradientReportOptions& o, GradientStats& stats) {
  const DataConfig data = data_config(config);
  const TrainConfig train = train_config(config);
  GHM_CHECK(model_type(config) == ModelType::RetinaNet, "analyze-gradients studies the dense head of a RetinaNet "
            "(the gradient norms over all anchors); model.type is faster_rcnn");
  const detection::RetinaNetConfig model_cfg = retinanet_config(config);
  const DetectionSource source(load_split(data.train_json, data, Split::Train), data.train_images, data, Split::Test);
  GHM_CHECK(source.dataset().num_classes() == model_cfg.num_classes, data.train_json, " has ",
            source.dataset().num_classes(), " categories but model.head.num_classes is ", model_cfg.num_classes);
  Generator gen(train.seed);
  detection::RetinaNet model(model_cfg, gen);
  load_model_weights(resolve_checkpoint(o.checkpoint), model, nn::Strict::Yes);
  model.eval();
  const detection::AnchorGenerator anchors(anchor_config(config));
  const detection::TargetConfig target_cfg = target_config(data, train);

  io::DataLoader loader(source.size(), source.sample_fn(), train_loader_config(data, train), source.aspects());
  loader.start_epoch(0);

  NoGradGuard no_grad;
  AnalysedData seen;
  while (seen.batches < o.batches) {
    const std::optional<io::Batch> batch = loader.next();
    if (!batch) break;
    const detection::RetinaNetOutput out = model.forward(batch->images);
    std::vector<detection::FeatureSize> sizes;
    for (const Tensor& c : out.cls_logits) sizes.push_back({c.size(2), c.size(3)});
    const detection::BatchTargets targets =
        detection::batch_targets(anchors, sizes, ground_truth(*batch), model_cfg.num_classes, target_cfg);
    stats.add_classification(detection::head_rows(out.cls_logits, model_cfg.num_classes), targets.labels,
                             targets.label_weights);
    stats.add_regression(detection::head_rows(out.box_deltas, 4), targets.bbox_targets, targets.positive_rows);
    ++seen.batches;
    seen.images += static_cast<std::int64_t>(batch->samples.size());
    seen.positive_anchors += targets.num_pos;
  }
  return seen;
}

std::vector<double> bin_centres(int bins, double shift = 0) {
  std::vector<double> x;
  for (int i = 0; i < bins; ++i) x.push_back((i + 0.5 + shift) / bins);
  return x;
}

std::vector<double> fractions(const GradientHistogram& h) {
  std::vector<double> y;
  for (int i = 0; i < static_cast<int>(h.count.size()); ++i) y.push_back(h.fraction(i));
  return y;
}

void write_figure(const io::Figure& figure, const std::string& path) { io::write_png(path, figure.render()); }

io::Panel& gradient_panel(io::Figure& figure, const std::string& x_label, const std::string& y_label) {
  io::Panel& p = figure.add_panel();
  p.set_x_range(0, 1).set_y_scale(io::Scale::Log).set_x_label(x_label).set_y_label(y_label);
  return p;
}

void plot_classification(const GradientStats& stats, const std::string& path) {
  const int bins = stats.config().bins;
  io::Figure fig(kFigureWidth, kFigureHeight, "Fig. 2: classification gradient norm distribution");
  io::Panel& p = gradient_panel(fig, "gradient norm g = |sigmoid(x) - y|", "fraction of examples");
  p.add_bars(std::to_string(stats.classification().total()) + " examples (valid anchor x class)", bin_centres(bins),
             fractions(stats.classification()), 0.9 / bins, io::plot_color(0));
  write_figure(fig, path);
}

void plot_reformulated(const GradientStats& stats, const std::string& path) {
  const GradientAnalysisConfig& c = stats.config();
  std::vector<double> g, ce, focal, ghmc;
  for (const ReformulatedBin& b : stats.reformulated()) {
    g.push_back(b.count == 0 ? (b.g_lo + b.g_hi) / 2 : b.mean_g);
    ce.push_back(b.ce), focal.push_back(b.focal), ghmc.push_back(b.ghmc);
  }
  io::Figure fig(kFigureWidth, kFigureHeight, "Fig. 3: reformulated gradient norm of one example");
  io::Panel& p = gradient_panel(fig, "original gradient norm g (bin mean)", "mean |dL/dx| per example");
  char focal_name[64];
  std::snprintf(focal_name, sizeof focal_name, "focal loss (alpha %g, gamma %g)", c.focal_alpha, c.focal_gamma);
  const std::string names[3] = {"CE", focal_name, "GHM-C (" + std::to_string(c.bins) + " bins, no momentum)"};
  const std::vector<double>* values[3] = {&ce, &focal, &ghmc};
  for (int s = 0; s < 3; ++s) {
    p.add_line(names[s], g, *values[s], io::plot_color(s));
    p.add_points("", g, *values[s], io::plot_color(s));
  }
  p.set_legend(io::LegendCorner::BottomRight);
  write_figure(fig, path);
}

void plot_regression(const GradientStats& stats, const std::string& path) {
  const GradientAnalysisConfig& c = stats.config();
  io::Figure fig(kFigureWidth, kFigureHeight, "Fig. 4: regression gradient norm distribution");
  io::Panel& p = gradient_panel(fig, "gradient norm of a box delta", "fraction of deltas");
  char asl1[64], sl1[64];
  std::snprintf(asl1, sizeof asl1, "ASL1 |d|/sqrt(d^2+mu^2), mu %g", c.mu);
  std::snprintf(sl1, sizeof sl1, "SL1 min(|d|/beta, 1), beta %g", c.beta);
  p.add_bars(asl1, bin_centres(c.bins, -0.2), fractions(stats.asl1()), 0.4 / c.bins, io::plot_color(0));
  p.add_bars(sl1, bin_centres(c.bins, 0.2), fractions(stats.sl1()), 0.4 / c.bins, io::plot_color(1));
  p.set_legend(io::LegendCorner::TopLeft);
  write_figure(fig, path);
}

double percent(std::int64_t part, std::int64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

void print_summary(const GradientStats& stats, const AnalysedData& seen, const std::string& train_json) {
  const GradientHistogram& cls = stats.classification();
  std::printf("analysed %d batch%s (%lld images) of %s\n", seen.batches, seen.batches == 1 ? "" : "es",
              static_cast<long long>(seen.images), train_json.c_str());
  std::printf("classification: %lld examples (valid anchor x class), %lld positive: g < 0.1: %.2f%%, g > 0.9: %.4f%%\n",
              static_cast<long long>(cls.total()), static_cast<long long>(stats.positive_examples()),
              percent(cls.below_0_1, cls.total()), percent(cls.above_0_9, cls.total()));
  const GradientHistogram& asl1 = stats.asl1();
  const GradientHistogram& sl1 = stats.sl1();
  std::printf("regression: %lld deltas of %lld positive anchors: ASL1 g < 0.1: %.2f%%, g > 0.9: %.2f%%; "
              "SL1 g < 0.1: %.2f%%, g > 0.9: %.2f%%\n",
              static_cast<long long>(asl1.total()), static_cast<long long>(seen.positive_anchors),
              percent(asl1.below_0_1, asl1.total()), percent(asl1.above_0_9, asl1.total()),
              percent(sl1.below_0_1, sl1.total()), percent(sl1.above_0_9, sl1.total()));
}

}  // namespace

void write_gradient_report(const GradientReportOptions& o) {
  const io::Json config = load_config(o.config_path, o.overrides);
  const detection::DetectionLossConfig loss = loss_config(config);
  GradientAnalysisConfig ac;
  ac.bins = o.bins;
  ac.focal_alpha = loss.cls.alpha;
  ac.focal_gamma = loss.cls.gamma;
  ac.mu = loss.reg.mu;
  ac.beta = loss.reg.beta;
  GradientStats stats(ac);
  const AnalysedData seen = analyse_batches(config, o, stats);
  GHM_CHECK(stats.classification().total() > 0, o.config_path, ": the analysed batches have no valid anchors");

  std::filesystem::create_directories(o.out_dir);
  const std::filesystem::path dir(o.out_dir);
  io::write_output((dir / "classification_g.csv").string(), stats.classification_csv());
  io::write_output((dir / "reformulated_gradient.csv").string(), stats.reformulated_csv());
  io::write_output((dir / "regression_g.csv").string(), stats.regression_csv());
  plot_classification(stats, (dir / "fig2_classification_g.png").string());
  plot_reformulated(stats, (dir / "fig3_reformulated_gradient.png").string());
  plot_regression(stats, (dir / "fig4_regression_g.png").string());
  print_summary(stats, seen, data_config(config).train_json);
  std::printf("wrote %s: classification_g.csv, reformulated_gradient.csv, regression_g.csv and fig2-4 PNGs\n",
              o.out_dir.c_str());
}

}  // namespace ghm::engine
