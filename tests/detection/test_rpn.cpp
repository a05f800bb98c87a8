// The region proposal network's inference (detection/faster_rcnn/rpn.h) against torchvision's
// RegionProposalNetwork on the fixtures of tools/make_fixtures_two_stage.py: with the same head
// weights and the same P2..P6 maps, the head's objectness and deltas, the anchors, and each
// image's proposals and scores after filter_proposals (eval mode with 1000 per level and image,
// training mode with 300 / 200, so that the final cut applies).
//
// Tolerances (why): anchors are integers plus shifts: exact. Proposals with equal scores (see
// tie_canonical) are compared in a canonical order. The head is three convolutions (a
// few dozen products per output, oneDNN on both sides, different orders): 1e-5 of the largest
// value. Proposals: the order is decided on logits that differ by far more than rounding, and the
// boxes are decoded with torchvision's float operations in its order; exp (ours glibc, torch's
// vectorised) can differ by an ulp, so 1e-5 of the largest coordinate; scores likewise.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "core/autograd.h"
#include "detection/faster_rcnn/rpn.h"
#include "detection_cases.h"

using namespace ghm;
using namespace ghm::detection;
using ghm::testing::DetectionFixture;
using ghm::testing::host_normalised_error;
using ghm::testing::tie_canonical;

TEST_CASE("rpn: head outputs, anchors and proposals equal torchvision's") {
  const DetectionFixture f("rpn");
  REQUIRE(f.num_cases >= 2);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = f.params(i);
    std::vector<Tensor> maps;
    std::vector<FeatureSize> sizes;
    for (int l = 0; l < 5; ++l) {
      maps.push_back(f.get(i, "map" + std::to_string(l)));
      sizes.push_back({maps.back().size(2), maps.back().size(3)});
    }
    Generator gen(0);
    RpnHead head(maps[0].size(1), 3, gen);
    std::vector<std::pair<std::string, Tensor>> weights;
    for (const auto& [name, t] : head.state()) weights.emplace_back(name, f.get(i, name));
    head.load_state(weights);
    const NoGradGuard no_grad;
    std::vector<Tensor> objectness, deltas;
    head.forward(maps, objectness, deltas);
    for (int l = 0; l < 5; ++l) {
      CAPTURE(l);
      CHECK(host_normalised_error(objectness[l], f.get(i, "objectness" + std::to_string(l))) <= 1e-5);
      CHECK(host_normalised_error(deltas[l], f.get(i, "deltas" + std::to_string(l))) <= 1e-5);
    }
    RpnConfig c;
    c.pre_nms_top_n_train = c.pre_nms_top_n_test = static_cast<int>(p.at("pre_nms_top_n").as_int());
    c.post_nms_top_n_train = c.post_nms_top_n_test = static_cast<int>(p.at("post_nms_top_n").as_int());
    const ImageSize padded{p.at("padded").at(0).as_int(), p.at("padded").at(1).as_int()};
    const Tensor anchors = rpn_anchors(sizes, padded, c);
    CHECK(anchors.to_vector<float>() == f.get(i, "anchors").to_vector<float>());
    std::vector<ImageSize> image_sizes;
    for (const io::Json& s : p.at("image_sizes").as_array())
      image_sizes.push_back({s.at(0).as_int(), s.at(1).as_int()});
    // The fixture's own head outputs, so that the selection is compared on identical logits.
    std::vector<Tensor> ref_objectness, ref_deltas;
    for (int l = 0; l < 5; ++l) {
      ref_objectness.push_back(f.get(i, "objectness" + std::to_string(l)));
      ref_deltas.push_back(f.get(i, "deltas" + std::to_string(l)));
    }
    const std::vector<Proposals> got =
        rpn_proposals(ref_objectness, ref_deltas, anchors, image_sizes, p.at("training").as_bool(), c);
    REQUIRE(got.size() == image_sizes.size());
    for (std::size_t b = 0; b < got.size(); ++b) {
      CAPTURE(b);
      const Tensor boxes = f.get(i, "boxes" + std::to_string(b)), scores = f.get(i, "scores" + std::to_string(b));
      REQUIRE(got[b].boxes.shape() == boxes.shape());
      CHECK(host_normalised_error(got[b].scores, scores) <= 1e-5);
      CHECK(host_normalised_error(tie_canonical(got[b].boxes, got[b].scores), tie_canonical(boxes, scores)) <= 1e-5);
      MESSAGE("case ", i, " image ", b, ": ", boxes.size(0), " proposals");
    }
  }
}

TEST_CASE("rpn: base anchors are torchvision's rounded boxes, one per ratio") {
  // size 32: ratio 0.5 -> w 45.25, h 22.63 -> (-23, -11, 23, 11); ratio 1 -> (-16, -16, 16, 16)
  CHECK(rpn_base_anchors(32, {0.5f, 1.0f, 2.0f}).to_vector<float>() ==
        std::vector<float>{-23, -11, 23, 11, -16, -16, 16, 16, -11, -23, 11, 23});
}

TEST_CASE("rpn: decoding clamps the log-size deltas at log(1000 / 16) and applies the weights") {
  const Tensor anchors = Tensor::from_vector<float>({0, 0, 10, 20, 5, 5, 15, 15}, Shape{2, 4});
  const Tensor deltas = Tensor::from_vector<float>({0, 0, 0, 0, 1, -1, 100, 0}, Shape{2, 4});
  const std::vector<float> out = decode_boxes(deltas, anchors, {1, 1, 1, 1}).to_vector<float>();
  CHECK(std::vector<float>(out.begin(), out.begin() + 4) == std::vector<float>{0, 0, 10, 20});
  // box 2: w 10, centre (10, 10) moved by (10, -10); width exp(log(62.5)) * 10 = 625
  CHECK(out[4] == doctest::Approx(20 - 312.5));
  CHECK(out[6] == doctest::Approx(20 + 312.5));
  CHECK(out[5] == doctest::Approx(-5));
  const std::vector<float> weighted = decode_boxes(deltas, anchors, {10, 10, 5, 5}).to_vector<float>();
  CHECK(weighted[4] == doctest::Approx(11 - 312.5));  // dx / 10 * w + cx - w / 2, dw clamped as before
}
