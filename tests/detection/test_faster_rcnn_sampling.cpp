// Faster R-CNN's matching, sampling and box-loss choices (detection/faster_rcnn/sampling.h and
// losses.h): the Matcher and BoxCoder.encode against torchvision's on
// tools/make_fixtures_two_stage.py's "matcher" cases (boxes on an integer grid, so that IoUs tie
// exactly, and a duplicate gt), the sampler's counts and draws, and the second stage's L1 and
// GHM-R box losses against their definitions. The smooth L1 path and the RPN's losses are checked
// against torchvision's training step in test_faster_rcnn_training.cpp.
//
// Tolerances (why): matches are integers: exact. Encoding repeats torchvision's float operations
// in its order (no fused multiply-add); log may differ by an ulp between libms: 1e-6 of the
// largest value.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <span>
#include <vector>

#include "core/autograd.h"
#include "detection/faster_rcnn/losses.h"
#include "detection_cases.h"

using namespace ghm;
using namespace ghm::detection;
using ghm::testing::DetectionFixture;
using ghm::testing::host_normalised_error;

TEST_CASE("faster r-cnn matcher and box encoding equal torchvision's (ties, duplicate gt, no gt)") {
  const DetectionFixture f("matcher");
  REQUIRE(f.num_cases >= 4);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = f.params(i);
    const MatcherConfig c{static_cast<float>(p.at("high").as_double()), static_cast<float>(p.at("low").as_double()),
                          p.at("allow_low_quality_matches").as_bool()};
    const Tensor gt = f.get(i, "gt"), boxes = f.get(i, "boxes");
    const std::vector<std::int64_t> matches = match_boxes(gt, boxes, c);
    CHECK(matches == f.get(i, "matches").to_vector<std::int64_t>());
    if (!f.has(i, "encoded")) continue;
    std::array<float, 4> w{};
    for (int k = 0; k < 4; ++k) w[static_cast<std::size_t>(k)] = static_cast<float>(p.at("weights").at(k).as_double());
    std::vector<std::int64_t> rows;
    for (const std::int64_t m : matches) rows.push_back(std::max<std::int64_t>(m, 0));
    const std::vector<float> g = gt.to_vector<float>();
    std::vector<float> matched;
    for (const std::int64_t r : rows) matched.insert(matched.end(), g.begin() + 4 * r, g.begin() + 4 * r + 4);
    const Tensor encoded = encode_boxes(Tensor::from_vector(matched, boxes.shape()), boxes, w);
    CHECK(host_normalised_error(encoded, f.get(i, "encoded")) <= 1e-6);
  }
}

TEST_CASE("faster r-cnn sampler: counts, first-index order and seeded random draws") {
  std::vector<std::int64_t> labels(1000, 0);
  for (std::size_t j = 0; j < labels.size(); j += 7) labels[j] = 1 + static_cast<std::int64_t>(j % 3);
  for (std::size_t j = 3; j < labels.size(); j += 11) labels[j] = -1;  // ignored (some positives too)
  const auto count = [&](std::int64_t v) { return std::count(labels.begin(), labels.end(), v); };
  const std::int64_t positives = std::count_if(labels.begin(), labels.end(), [](std::int64_t l) { return l >= 1; });
  const std::int64_t negatives = count(0);

  SUBCASE("first: the lowest indices, at most batch * fraction positives") {
    const SampledIndices s = sample_balanced(labels, 256, 0.25f, {SampleOrder::First, nullptr});
    REQUIRE(s.positive.size() == 64);
    REQUIRE(s.negative.size() == 192);
    std::vector<std::int64_t> first_pos;
    for (std::size_t j = 0; j < labels.size() && first_pos.size() < 64; ++j)
      if (labels[j] >= 1) first_pos.push_back(static_cast<std::int64_t>(j));
    CHECK(s.positive == first_pos);
    CHECK(s.positive[1] == 7);
    CHECK(s.negative.front() == 1);
  }
  SUBCASE("few positives: the negatives fill the batch") {
    const SampledIndices s = sample_balanced(labels, 512, 0.5f, {SampleOrder::First, nullptr});
    CHECK(static_cast<std::int64_t>(s.positive.size()) == std::min<std::int64_t>(positives, 256));
    CHECK(static_cast<std::int64_t>(s.negative.size()) ==
          std::min<std::int64_t>(negatives, 512 - static_cast<std::int64_t>(s.positive.size())));
  }
  SUBCASE("random: distinct, ascending, of the right kind; the same seed draws the same") {
    Generator a(11), b(11), c(12);
    const SampledIndices s = sample_balanced(labels, 256, 0.5f, {SampleOrder::Random, &a});
    CHECK(s.positive.size() == 128);
    CHECK(s.negative.size() == 128);
    CHECK(std::is_sorted(s.positive.begin(), s.positive.end()));
    CHECK(std::set<std::int64_t>(s.negative.begin(), s.negative.end()).size() == 128);
    for (const std::int64_t j : s.positive) CHECK(labels[static_cast<std::size_t>(j)] >= 1);
    for (const std::int64_t j : s.negative) CHECK(labels[static_cast<std::size_t>(j)] == 0);
    const SampledIndices again = sample_balanced(labels, 256, 0.5f, {SampleOrder::Random, &b});
    CHECK(again.positive == s.positive);
    CHECK(again.negative == s.negative);
    const SampledIndices other = sample_balanced(labels, 256, 0.5f, {SampleOrder::Random, &c});
    CHECK(other.negative != s.negative);
    // Not the first ones: a draw over 730 negatives takes some beyond the first 128.
    CHECK(s.negative.back() > 200);
  }
  SUBCASE("bad settings and a missing generator are errors") {
    CHECK_THROWS_AS(sample_balanced(labels, 0, 0.5f, {SampleOrder::First, nullptr}), Error);
    CHECK_THROWS_AS(sample_balanced(labels, 16, 1.5f, {SampleOrder::First, nullptr}), Error);
    CHECK_THROWS_AS(sample_balanced(labels, 16, 0.5f, {SampleOrder::Random, nullptr}), Error);
  }
}

namespace {

// Two images' RoIs: image 0 has gt boxes of classes 0 and 2 (labels 1 and 3), image 1 none.
RoiSamples two_image_samples(const RoiTrainConfig& c) {
  const Tensor props0 = Tensor::from_vector<float>({0, 0, 20, 20, 2, 1, 22, 21, 40, 40, 70, 60, 0, 30, 10, 60,
                                                    41, 42, 69, 61, 5, 5, 9, 9},
                                                   Shape{6, 4});
  const Tensor props1 = Tensor::from_vector<float>({0, 0, 10, 10, 3, 3, 30, 30}, Shape{2, 4});
  std::vector<ImageGroundTruth> gts(2);
  gts[0].boxes = Tensor::from_vector<float>({1, 0, 21, 20, 40, 41, 70, 61}, Shape{2, 4});
  gts[0].labels = Tensor::from_vector<std::int64_t>({0, 2}, Shape{2});
  gts[1].boxes = Tensor::zeros(Shape{0, 4});
  gts[1].labels = Tensor::zeros(Shape{0}, DType::I64);
  return sample_rois({props0, props1}, gts, c, {10.f, 10.f, 5.f, 5.f}, {SampleOrder::First, nullptr});
}

}  // namespace

TEST_CASE("faster r-cnn second stage: RoI sampling with gt added, and the l1 and ghmr box losses") {
  RoiTrainConfig c;
  const RoiSamples s = two_image_samples(c);
  // Image 0: 6 proposals + 2 gt = 8 RoIs, of which 2 + 2 + 2 match at IoU >= 0.5 (each gt itself
  // included); image 1 (no gt): its 2 proposals, both background.
  REQUIRE(s.proposals.size() == 2);
  CHECK(s.proposals[0].size(0) == 8);
  CHECK(s.proposals[1].size(0) == 2);
  const std::vector<std::int64_t> labels = s.labels.to_vector<std::int64_t>();
  CHECK(labels == std::vector<std::int64_t>{1, 1, 3, 0, 3, 0, 1, 3, 0, 0});
  CHECK(s.num_pos == 6);
  // A gt matched to itself encodes to 0.
  const std::vector<float> t = s.targets.to_vector<float>();
  for (int k = 0; k < 4; ++k) CHECK(t[static_cast<std::size_t>(6 * 4 + k)] == 0.0f);

  const std::int64_t classes = 4, rois = s.labels.size(0);
  Generator gen(3);
  const Tensor logits = Tensor::normal(Shape{rois, classes}, 0.f, 1.f, gen);
  Tensor deltas = Tensor::normal(Shape{rois, 4 * classes}, 0.f, 0.5f, gen);
  deltas.set_requires_grad(true);
  const std::vector<float> d = deltas.to_vector<float>();
  // The positives' own-class deltas minus their targets.
  std::vector<float> diff;
  for (std::int64_t r = 0; r < rois; ++r)
    if (labels[static_cast<std::size_t>(r)] > 0)
      for (int k = 0; k < 4; ++k)
        diff.push_back(d[static_cast<std::size_t>(r * 4 * classes + labels[static_cast<std::size_t>(r)] * 4 + k)] -
                       t[static_cast<std::size_t>(r * 4 + k)]);

  SUBCASE("l1: sum |d| / sampled, and sign(d) / sampled on the own-class deltas only") {
    c.box_loss = RoiBoxLoss::L1;
    const RoiLoss l = roi_loss(logits, deltas, s, c, nullptr);
    double expected = 0;
    for (const float v : diff) expected += std::abs(v);
    CHECK(l.box.item() == doctest::Approx(expected / static_cast<double>(rois)).epsilon(1e-6));
    l.box.backward();
    const std::vector<float> g = deltas.grad().to_vector<float>();
    double grad_mass = 0;
    for (const float v : g) grad_mass += std::abs(v);
    CHECK(grad_mass == doctest::Approx(static_cast<double>(diff.size()) / static_cast<double>(rois)).epsilon(1e-6));
  }
  SUBCASE("ghmr: losses/ghm_r.h on the P x 4 own-class deltas, normalised by 4 P, its EMA updated") {
    c.box_loss = RoiBoxLoss::GhmR;
    losses::GhmEmaState state(c.ghmr.bins()), reference(c.ghmr.bins());
    const RoiLoss l = roi_loss(logits, deltas, s, c, &state);
    const auto p = static_cast<std::int64_t>(diff.size() / 4);
    const losses::GhmrResult r =
        losses::ghm_r_forward(Tensor::from_vector(diff, Shape{p, 4}), Tensor::zeros(Shape{p, 4}),
                              Tensor::ones(Shape{p, 4}), c.ghmr, reference);
    CHECK(l.box.item() == doctest::Approx(r.loss.item()).epsilon(1e-6));
    CHECK(state.values() == reference.values());
    CHECK_THROWS_AS(roi_loss(logits, deltas, s, c, nullptr), Error);
  }
  SUBCASE("ghmr without positives: loss 0, the EMA untouched, and the call still made (its all-reduce)") {
    c.box_loss = RoiBoxLoss::GhmR;
    RoiSamples background = s;
    background.labels = Tensor::zeros(Shape{rois}, DType::I64);
    losses::GhmEmaState state(c.ghmr.bins());
    int calls = 0;
    state.across = {[&calls](std::span<double>) { ++calls; }, 1};
    const RoiLoss l = roi_loss(logits, deltas, background, c, &state);
    CHECK(l.box.item() == 0.0f);
    CHECK(calls >= 1);  // every process of a job with dist.ghm_counts sum joins the sum
    for (const float v : state.values()) CHECK(v == 0.0f);
    l.box.backward();
    for (const float v : deltas.grad().to_vector<float>()) CHECK(v == 0.0f);
  }
  SUBCASE("classifier: softmax cross-entropy, mean over every sampled RoI") {
    const RoiLoss l = roi_loss(logits, deltas, s, c, nullptr);
    const std::vector<float> x = logits.to_vector<float>();
    double expected = 0;
    for (std::int64_t r = 0; r < rois; ++r) {
      double z = 0;
      for (std::int64_t k = 0; k < classes; ++k) z += std::exp(static_cast<double>(x[static_cast<std::size_t>(r * classes + k)]));
      expected += std::log(z) - x[static_cast<std::size_t>(r * classes + labels[static_cast<std::size_t>(r)])];
    }
    CHECK(l.classifier.item() == doctest::Approx(expected / static_cast<double>(rois)).epsilon(1e-5));
  }
}
