// The second stage's inference (detection/faster_rcnn/roi_heads.h) against torchvision's
// TwoMLPHead, FastRCNNPredictor and RoIHeads.postprocess_detections on the fixtures of
// tools/make_fixtures_two_stage.py: the class logits and deltas from the same pooled boxes and
// weights, and each image's detections from the same logits, deltas and proposals.
//
// Tolerances (why): the heads are three matrix products over a few hundred terms (oneDNN or
// Eigen on our side, MKL-DNN on torch's, different orders): 1e-5 of the largest value. The
// detections: softmax and exp differ from torch's vectorised ones by an ulp or so, which moves a
// score or a box corner by far less than 1e-5 of the largest; the kept set and order are decided
// by scores that differ by far more (random logits), so they must be the same.
#include <doctest/doctest.h>

#include <vector>

#include "core/autograd.h"
#include "detection/faster_rcnn/roi_heads.h"
#include "detection_cases.h"

using namespace ghm;
using namespace ghm::detection;
using ghm::testing::DetectionFixture;
using ghm::testing::host_normalised_error;

TEST_CASE("roi heads: logits, deltas and detections equal torchvision's") {
  const DetectionFixture f("roi_heads");
  REQUIRE(f.num_cases >= 2);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = f.params(i);
    RoiHeadsConfig c;
    c.num_classes = p.at("num_classes").as_int();
    c.representation = p.at("representation").as_int();
    const Tensor pooled = f.get(i, "pooled");
    Generator gen(0);
    BoxHead head(pooled.size(1) * 49, c.representation, gen);
    BoxPredictor predictor(c.representation, c.num_classes, gen);
    for (nn::Module* m : std::vector<nn::Module*>{&head, &predictor}) {
      std::vector<std::pair<std::string, Tensor>> weights;
      for (const auto& [name, t] : m->state()) weights.emplace_back(name, f.get(i, name));
      m->load_state(weights);
    }
    const NoGradGuard no_grad;
    Tensor logits, deltas;
    predictor.forward(head.forward(pooled), logits, deltas);
    CHECK(host_normalised_error(logits, f.get(i, "class_logits")) <= 1e-5);
    CHECK(host_normalised_error(deltas, f.get(i, "box_regression")) <= 1e-5);

    std::vector<Tensor> proposals;
    std::vector<ImageSize> sizes;
    for (const io::Json& s : p.at("image_sizes").as_array()) {
      sizes.push_back({s.at(0).as_int(), s.at(1).as_int()});
      proposals.push_back(f.get(i, "proposals" + std::to_string(proposals.size())));
    }
    const std::vector<Detections> got =
        roi_detections(f.get(i, "class_logits"), f.get(i, "box_regression"), proposals, sizes, c);
    REQUIRE(got.size() == sizes.size());
    for (std::size_t b = 0; b < got.size(); ++b) {
      CAPTURE(b);
      const Tensor boxes = f.get(i, "boxes" + std::to_string(b));
      REQUIRE(got[b].boxes.shape() == boxes.shape());
      const Tensor labels = f.get(i, "labels" + std::to_string(b));
      CHECK(got[b].labels.to_vector<std::int64_t>() == labels.to_vector<std::int64_t>());
      CHECK(host_normalised_error(got[b].scores, f.get(i, "scores" + std::to_string(b))) <= 1e-5);
      CHECK(host_normalised_error(got[b].boxes, boxes) <= 1e-5);
      MESSAGE("case ", i, " image ", b, ": ", boxes.size(0), " detections");
    }
  }
}

TEST_CASE("roi heads: a background-only row gives nothing, and shapes are checked") {
  // Two proposals, two classes: row 0 all background, row 1 class 1 with certainty.
  const Tensor logits = Tensor::from_vector<float>({10, -10, -10, 10}, Shape{2, 2});
  const Tensor deltas = Tensor::zeros(Shape{2, 8});
  const Tensor proposals = Tensor::from_vector<float>({1, 1, 5, 5, 10, 10, 20, 30}, Shape{2, 4});
  RoiHeadsConfig c;
  c.num_classes = 2;
  const std::vector<Detections> d = roi_detections(logits, deltas, {proposals}, {{40, 40}}, c);
  REQUIRE(d.size() == 1);
  CHECK(d[0].boxes.to_vector<float>() == std::vector<float>{10, 10, 20, 30});
  CHECK(d[0].labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{1});
  CHECK_THROWS_WITH_AS(roi_detections(logits, Tensor::zeros(Shape{2, 6}), {proposals}, {{40, 40}}, c),
                       doctest::Contains("must be [K, classes] and [K, 4 classes]"), Error);
}

TEST_CASE("roi heads: no proposals give no detections") {
  Generator gen(1);
  BoxHead head(2 * 49, 8, gen);
  BoxPredictor predictor(8, 3, gen);
  Tensor logits, deltas;
  predictor.forward(head.forward(Tensor::zeros(Shape{0, 2, 7, 7})), logits, deltas);
  CHECK(logits.shape() == Shape{0, 3});
  CHECK(deltas.shape() == Shape{0, 12});
  RoiHeadsConfig c;
  c.num_classes = 3;
  const std::vector<Detections> d = roi_detections(logits, deltas, {Tensor::zeros(Shape{0, 4})}, {{20, 20}}, c);
  REQUIRE(d.size() == 1);
  CHECK(d[0].boxes.shape() == Shape{0, 4});
  CHECK(d[0].labels.size(0) == 0);
}
