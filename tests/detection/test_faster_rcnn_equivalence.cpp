// Faster R-CNN at inference (detection/faster_rcnn/model.h) against torchvision's FasterRCNN on
// tools/make_fixtures_faster_rcnn.py's fixture: ResNet-18 + FPN (P2..P6), 5 classes, every weight
// set by the "sin-v1" formula over our state names (tests/nn/torchvision_formula.h), which first
// checks that our model has exactly torchvision's tensors under tools/convert_torchvision.py's
// names. Compared: the FPN's top levels, the RPN head on every level, the proposals, and - from
// the fixture's own proposals, so that the stages are compared on the same inputs - the pooled
// proposals (summed over channels), the box predictor's logits and deltas, and the detections.
//
// Tolerances (why): every value comes from a float32 chain of ~20 convolutions summed in other
// orders than torch's: max |ours - ref| / max |ref| <= 1e-4 per tensor, as the RetinaNet
// equivalence test. The proposals and detections are selected by comparisons of such values, so
// a pair within that noise of a tie could be ordered differently. The proposals agree in order.
// The detections' scores here come in runs equal to within that noise (the formula's box head
// hardly depends on the proposal; see the tool), so the scores and labels are compared in order
// and the boxes as a set, where a box of a near-tie run may be another member of the run (and at
// least 90% of the boxes must match).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "tests/detection/faster_rcnn_fixture.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

constexpr double kTolerance = 1e-4;

void check_close(const std::string& what, const Tensor& ours, const Tensor& ref) {
  CAPTURE(what);
  REQUIRE(ours.shape() == ref.shape());
  const double err = test::relative_error(ours.to(Device::cpu()), ref);
  MESSAGE(what, ": relative error ", err);
  CHECK(err <= kTolerance);
}

// How many reference detections have no detection of ours with the same label and a box and
// score within kTolerance (of the largest coordinate), not counting those whose score lies within
// kTolerance of another reference score: in such a run rounding decides the order, and so which
// box NMS keeps.
int unmatched(const Detections& ours, const Tensor& boxes, const Tensor& scores, const Tensor& labels) {
  const std::vector<float> ob = ours.boxes.to_vector<float>(), os = ours.scores.to_vector<float>();
  const std::vector<std::int64_t> ol = ours.labels.to_vector<std::int64_t>(), rl = labels.to_vector<std::int64_t>();
  const std::vector<float> rb = boxes.to_vector<float>(), rs = scores.to_vector<float>();
  float scale = 1;
  for (const float v : rb) scale = std::max(scale, std::abs(v));
  std::vector<bool> used(os.size(), false);
  int missing = 0, in_runs = 0;
  for (std::size_t r = 0; r < rs.size(); ++r) {
    bool found = false;
    for (std::size_t o = 0; o < os.size() && !found; ++o) {
      if (used[o] || ol[o] != rl[r] || std::abs(os[o] - rs[r]) > kTolerance) continue;
      bool close = true;
      for (std::size_t k = 0; k < 4; ++k)
        close = close && std::abs(ob[4 * o + k] - rb[4 * r + k]) <= kTolerance * scale;
      if (close) used[o] = found = true;
    }
    bool near_tie = false;
    for (std::size_t q = 0; q < rs.size(); ++q)
      near_tie = near_tie || (q != r && std::abs(rs[q] - rs[r]) <= kTolerance);
    if (!found) (near_tie ? in_runs : missing) += 1;
  }
  const std::size_t matched = rs.size() - static_cast<std::size_t>(missing + in_runs);
  MESSAGE(matched, " of ", rs.size(), " detections matched; ", in_runs, " others in near-tie runs");
  CHECK(matched * 10 >= rs.size() * 9);  // near ties may reorder a few, not most
  return missing;
}

}  // namespace

TEST_CASE("faster r-cnn: equals torchvision's FasterRCNN stage by stage (ResNet-18 FPN, eval mode)") {
  const io::SafetensorsData f = test::load_faster_rcnn_fixture("model_faster_rcnn_r18.safetensors");
  const std::shared_ptr<FasterRcnn> net = test::faster_rcnn_r18(f);
  FasterRcnn& model = *net;
  model.eval();
  const std::vector<ImageSize> sizes = test::fixture_image_sizes(f);
  const NoGradGuard no_grad;

  FasterRcnnOutput out = model.first_stage(f.at("image"), sizes);
  REQUIRE(out.features.size() == 5);
  check_close("P5", out.features[3], f.at("p5"));
  check_close("P6", out.features[4], f.at("p6"));
  for (std::size_t l = 0; l < 5; ++l) {
    check_close("objectness " + std::to_string(l), out.objectness[l], f.at("objectness." + std::to_string(l)));
    check_close("rpn deltas " + std::to_string(l), out.rpn_deltas[l], f.at("deltas." + std::to_string(l)));
  }
  std::vector<Tensor> proposals;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const Tensor ref = f.at("proposals." + std::to_string(i));
    CHECK(out.proposals[i].boxes.size(0) == ref.size(0));
    if (out.proposals[i].boxes.size(0) == ref.size(0))
      check_close("proposals " + std::to_string(i), out.proposals[i].boxes, ref);
    proposals.push_back(ref);
  }

  model.second_stage(out, proposals, sizes);
  {  // the pooled proposals, summed over channels (the whole tensor would take 17 MB)
    const std::int64_t k = out.pooled.size(0), ch = out.pooled.size(1), cells = out.pooled.size(2) * out.pooled.size(3);
    const std::vector<float> pooled = out.pooled.to(Device::cpu()).to_vector<float>();
    std::vector<float> sum(static_cast<std::size_t>(k * cells), 0.f);
    for (std::int64_t r = 0; r < k; ++r)
      for (std::int64_t c = 0; c < ch; ++c)
        for (std::int64_t i = 0; i < cells; ++i)
          sum[static_cast<std::size_t>(r * cells + i)] += pooled[static_cast<std::size_t>((r * ch + c) * cells + i)];
    check_close("pooled, summed over channels", Tensor::from_vector(sum, f.at("pooled_sum").shape()), f.at("pooled_sum"));
  }
  check_close("class logits", out.class_logits, f.at("class_logits"));
  check_close("box deltas", out.box_deltas, f.at("box_regression"));
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string n = std::to_string(i);
    REQUIRE(out.detections[i].boxes.size(0) == f.at("boxes." + n).size(0));
    check_close("detection scores " + n, out.detections[i].scores, f.at("scores." + n));
    CHECK(out.detections[i].labels.to_vector<std::int64_t>() == f.at("labels." + n).to_vector<std::int64_t>());
    CHECK(unmatched(out.detections[i], f.at("boxes." + n), f.at("scores." + n), f.at("labels." + n)) == 0);
  }
}
