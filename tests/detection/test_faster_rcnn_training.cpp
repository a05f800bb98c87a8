// Faster R-CNN's training step (detection/faster_rcnn/losses.h) against torchvision's, on
// tools/make_fixtures_faster_rcnn_train.py's fixture: the ResNet-18 FPN model of the inference
// test in training mode (the whole ResNet body frozen: a gradient through a ReLU input within
// float32 rounding of 0 jumps, the tool says where), both samplers taking the first positives and
// negatives by index (SampleOrder::First; the tool patches torchvision's the same way), two images
// with 3 and 2 ground-truth boxes. The second stage runs on the fixture's proposals (as the
// inference test) so that both sides sample RoIs from the same boxes. Compared: the proposals,
// the four losses, and the gradient of their sum for every trainable tensor (whole, or summed
// over all but its first dimension for the large ones), against torch's float64 run.
//
// Tolerances (why): every value is a float32 chain of ~20 convolutions summed in other orders than
// torch's. torch's own float32 run is at most 2.3e-5 from its float64 values on every gradient
// (metadata torch_f32_error, printed next to ours); we allow max(1e-3, 20x torch's) per gradient as
// max |ours - ref| / max |ref|, and 1e-4 relative on the losses. A wrong target, sampling or
// normaliser moves a loss by far more than that, and a missing backward path (RoIAlign, the
// gather of the sampled rows) changes gradients by their full size.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "tests/detection/faster_rcnn_fixture.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

double max_relative_error(const Tensor& ours, const Tensor& ref) {
  const std::vector<float> a = ours.to(Device::cpu()).to_vector<float>(), b = ref.to_vector<float>();
  double err = 0, scale = 1e-30;
  for (std::size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return err / scale;
}

// The gradient as the fixture stores it: whole, or summed over all but the first dimension.
Tensor stored_form(const Tensor& grad, bool rows) {
  if (!rows) return grad;
  const std::int64_t o = grad.size(0), inner = grad.numel() / o;
  const std::vector<float> g = grad.to(Device::cpu()).to_vector<float>();
  std::vector<float> sums(static_cast<std::size_t>(o), 0.f);
  for (std::int64_t r = 0; r < o; ++r) {
    double s = 0;
    for (std::int64_t i = 0; i < inner; ++i) s += g[static_cast<std::size_t>(r * inner + i)];
    sums[static_cast<std::size_t>(r)] = static_cast<float>(s);
  }
  return Tensor::from_vector(sums, Shape{o});
}

}  // namespace

TEST_CASE("faster r-cnn training: losses and gradients equal torchvision's (ResNet-18 FPN, first-index sampling)") {
  const io::SafetensorsData f = test::load_faster_rcnn_fixture("model_faster_rcnn_r18_train.safetensors");
  const std::shared_ptr<FasterRcnn> net = test::faster_rcnn_r18(f);
  FasterRcnn& model = *net;
  model.train();
  const std::vector<ImageSize> sizes = test::fixture_image_sizes(f);
  const std::vector<ImageGroundTruth> gts = test::fixture_ground_truth(f, sizes);
  const std::vector<Tensor> proposals = test::fixture_proposals(f, sizes.size());

  const FasterRcnnOutput first = model.first_stage(f.at("image"), sizes);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(i);
    const Tensor& ours = first.proposals[i].boxes;
    REQUIRE(ours.size(0) == proposals[i].size(0));
    CHECK(max_relative_error(ours, proposals[i]) <= 1e-4);
  }
  const Sampling first_index{SampleOrder::First, nullptr};
  const FasterRcnnLosses l = model.train_losses(first, proposals, sizes, gts, first_index, nullptr);
  MESSAGE("sampled: RPN ", l.rpn_sampled, " (", l.rpn_pos, " positive), RoIs ", l.roi_sampled, " (", l.roi_pos,
          " positive)");
  CHECK(l.rpn_pos > 0);
  CHECK(l.roi_pos > 0);
  const std::pair<const char*, const Tensor*> losses[] = {{"loss_objectness", &l.objectness},
                                                          {"loss_rpn_box_reg", &l.rpn_box},
                                                          {"loss_classifier", &l.classifier},
                                                          {"loss_box_reg", &l.box}};
  for (const auto& [name, value] : losses) {
    const double ours = value->item(), ref = f.at(name).item();
    MESSAGE(std::string(name), ": ours ", ours, ", torchvision ", ref);
    CHECK(std::abs(ours - ref) <= 1e-4 * std::abs(ref));
  }

  l.total.backward();
  const io::Json torch_error = io::Json::parse(f.metadata.at("torch_f32_error"), "torch_f32_error");
  const auto params = model.named_parameters();
  int compared = 0;
  double worst = 0;
  for (const auto& [name, p] : params) {
    const bool whole = f.contains("grad." + name), rows = f.contains("grad_rows." + name);
    if (!whole && !rows) {  // frozen on both sides: the fixture has no gradient for it
      CHECK_MESSAGE(!p.requires_grad(), name, " is trainable here but not in torchvision's model");
      continue;
    }
    const std::string key = (whole ? "grad." : "grad_rows.") + name;
    CAPTURE(key);
    REQUIRE(p.grad().defined());
    const double err = max_relative_error(stored_form(p.grad(), rows), f.at(key));
    const double torch_err = torch_error.at(key).as_double();
    CHECK_MESSAGE(err <= std::max(1e-3, 20 * torch_err), key, ": ", err, " (torch float32: ", torch_err, ")");
    worst = std::max(worst, err);
    ++compared;
  }
  MESSAGE(compared, " gradients, worst relative error ", worst);
  CHECK(compared == 30);  // the FPN, the RPN and the box head: the fixture freezes the body
}
