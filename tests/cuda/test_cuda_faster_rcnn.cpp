// Faster R-CNN's training step on CUDA against the CPU, on the training fixture of
// tests/detection/test_faster_rcnn_training.cpp (ResNet-18 FPN, formula weights, first-index
// sampling, the fixture's proposals for the second stage): the proposals, the four losses (smooth
// L1 and GHM-R in the second stage) and every gradient agree (TF32 off); the smooth L1 losses also
// equal torchvision's. Then `bench train --device cuda` runs Faster R-CNN. Run only where a GPU is
// present.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "apps/commands.h"
#include "compare.h"
#include "core/cuda/math_mode.h"
#include "tests/detection/faster_rcnn_fixture.h"

using namespace ghm;
using namespace ghm::detection;
using ghm::testing::normalised_error;

namespace {

struct StepResult {
  std::vector<Tensor> proposals;
  double objectness = 0, rpn_box = 0, classifier = 0, box = 0;
  std::vector<std::pair<std::string, Tensor>> grads;
};

StepResult step(const io::SafetensorsData& f, RoiBoxLoss box_loss, Device device) {
  const std::shared_ptr<FasterRcnn> net = test::faster_rcnn_r18(f, box_loss);
  FasterRcnn& model = *net;
  model.to(device);
  model.train();
  const std::vector<ImageSize> sizes = test::fixture_image_sizes(f);
  const std::vector<ImageGroundTruth> gts = test::fixture_ground_truth(f, sizes);
  const std::vector<Tensor> proposals = test::fixture_proposals(f, sizes.size());
  losses::GhmEmaState ghm(model.config().roi_train.ghmr.bins());
  const FasterRcnnOutput first = model.first_stage(f.at("image").to(device), sizes);
  const FasterRcnnLosses l =
      model.train_losses(first, proposals, sizes, gts, {SampleOrder::First, nullptr}, &ghm);
  StepResult r;
  for (const Proposals& p : first.proposals) r.proposals.push_back(p.boxes.to(Device::cpu()));
  r.objectness = l.objectness.item();
  r.rpn_box = l.rpn_box.item();
  r.classifier = l.classifier.item();
  r.box = l.box.item();
  l.total.backward();
  for (const auto& [name, p] : model.named_parameters())
    if (p.grad().defined()) r.grads.emplace_back(name, p.grad().detach().to(Device::cpu()));
  return r;
}

}  // namespace

TEST_CASE("cuda faster r-cnn: a training step equals the CPU's (smooth L1 and GHM-R second stage)") {
  const cuda::Tf32Scope full_float(false);
  const io::SafetensorsData f = test::load_faster_rcnn_fixture("model_faster_rcnn_r18_train.safetensors");
  for (const RoiBoxLoss kind : {RoiBoxLoss::SmoothL1, RoiBoxLoss::GhmR}) {
    CAPTURE(to_string(kind));
    const StepResult c = step(f, kind, Device::cpu());
    const StepResult g = step(f, kind, Device::cuda(0));
    for (std::size_t i = 0; i < c.proposals.size(); ++i) {
      REQUIRE(g.proposals[i].shape() == c.proposals[i].shape());
      CHECK(normalised_error(g.proposals[i], c.proposals[i]) < 1e-4);
    }
    CHECK(g.objectness == doctest::Approx(c.objectness).epsilon(1e-4));
    CHECK(g.rpn_box == doctest::Approx(c.rpn_box).epsilon(1e-4));
    CHECK(g.classifier == doctest::Approx(c.classifier).epsilon(1e-4));
    CHECK(g.box == doctest::Approx(c.box).epsilon(1e-4));
    if (kind == RoiBoxLoss::SmoothL1) {
      CHECK(g.objectness == doctest::Approx(f.at("loss_objectness").item()).epsilon(1e-4));
      CHECK(g.box == doctest::Approx(f.at("loss_box_reg").item()).epsilon(1e-4));
    }
    REQUIRE(g.grads.size() == c.grads.size());
    for (std::size_t k = 0; k < c.grads.size(); ++k) {
      CAPTURE(c.grads[k].first);
      CHECK(normalised_error(g.grads[k].second, c.grads[k].second) < 1e-3);
    }
  }
}

TEST_CASE("cuda faster r-cnn: bench train runs a training step and an inference on the GPU") {
  for (const char* mode : {"train", "infer"}) {
    CAPTURE(mode);
    CHECK(app::run_bench({"train", "--device", "cuda", "--depth", "18", "--set", "model.type=faster_rcnn", "--set",
                          "model.fpn.width=32", "--set", "model.head.num_classes=5", "--set",
                          "model.faster_rcnn.roi.representation=64", "--mode", mode, "--batch", "2", "--size",
                          "64x96", "--boxes", "3", "--threads", "1", "--warmup", "0", "--repeats", "1"}) == 0);
  }
}
