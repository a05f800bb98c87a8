// Our RetinaNet against torchvision 0.14's, weight for weight: backbone + FPN features P3..P7 and
// the per-level head outputs, from fixtures that tools/make_fixtures_model.py wrote
// (tests/data/model_<name>.safetensors: image, p3..p7, cls.0..4, box.0..4 in [N, C, H, W]).
//
// No weights are stored: both sides set every tensor by one formula ("sin-v1", described and
// implemented in tests/nn/torchvision_formula.h). The fixture lists torchvision's tensors under our
// names (metadata "state_names", mapped by tools/convert_torchvision.py), so the first check is that
// our model has exactly those tensors: the formula then gives both models the same weights only if
// the name mapping is right.
//
//   retinanet_r18  ResNet-18 + FrozenBatchNorm2d (torchvision's detection norm), K = 5, image [2, 3, 64, 96]
//   retinanet_r50  retinanet_resnet50_fpn(weights=None): nn.BatchNorm2d, here in eval mode, K = 3,
//                  image [1, 3, 64, 64]
// Both: P6 from P5 (torchvision v1), A = 9, width 256, 4 convs per head tower.
//
// Tolerance (why): max|ours - ref| / max|ref| <= 1e-4 per output. Each value comes from a float32
// chain of ~30 (R18) to ~60 (R50) convolutions whose dot products have 10^3..10^4 terms (2304 in
// the head, 4608 in ResNet's 3x3 convs at 512 channels). PyTorch and we sum them in different
// orders; the rounding then differs by a few ulp of the partial sums and compounds layer by layer.
// The fixture script measures torchvision's float32 result against float64 at 1.1e-5 (R18) and
// 2.3e-5 (R50), ours is at 0.7e-5 and 1.0e-5, and we are 1.4e-5 and 2.2e-5 from torchvision: the
// tolerance leaves a factor ~4. A wrong weight, layout, stride or padding moves outputs by 1e-2 or
// more: zeroing the image alone changes every output by >= 5e-2 of its largest value.
#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <utility>

#include "core/autograd.h"
#include "detection/retinanet/model.h"
#include "io/safetensors.h"
#include "nn/torchvision_formula.h"
#include "test_paths.h"

using namespace ghm;

namespace {

constexpr double kTolerance = 1e-4;

void check_against_torchvision(const std::string& name, const nn::ResNetConfig& backbone) {
  const io::SafetensorsData f =
      io::load_safetensors(::ghm::testing::test_data_dir() + "/model_" + name + ".safetensors");
  REQUIRE(f.metadata.at("formula") == "sin-v1");
  REQUIRE(f.metadata.at("p6") == "P5");
  REQUIRE(std::stoi(f.metadata.at("depth")) == backbone.depth);

  const std::unique_ptr<detection::RetinaNet> built = test::fixture_model(f, backbone);
  detection::RetinaNet& model = *built;
  model.eval();
  NoGradGuard no_grad;
  const detection::RetinaNetOutput out = model.forward(f.at("image"));
  REQUIRE(out.features.size() == 5);
  std::ostringstream errors;
  double worst = 0;
  for (std::size_t l = 0; l < 5; ++l) {
    const std::pair<std::string, Tensor> checks[] = {{"p" + std::to_string(l + 3), out.features[l]},
                                                     {"cls." + std::to_string(l), out.cls_logits[l]},
                                                     {"box." + std::to_string(l), out.box_deltas[l]}};
    for (const auto& [key, ours] : checks) {
      CAPTURE(key);
      const Tensor& ref = f.at(key);
      REQUIRE(ours.shape() == ref.shape());
      const double err = test::relative_error(ours, ref);
      CHECK(err <= kTolerance);
      errors << " " << key << " " << err;
      worst = std::max(worst, err);
    }
  }
  MESSAGE(name << ": max|ours - torchvision| / max|torchvision|, worst " << worst << ":" << errors.str());
}

}  // namespace

TEST_CASE("torchvision: RetinaNet-R18-FPN with FrozenBatchNorm2d equals torchvision's (P3..P7, head outputs)") {
  check_against_torchvision("retinanet_r18", {18, 1, 64, nn::NormKind::FrozenBatchNorm, 1});
}

TEST_CASE("torchvision: RetinaNet-R50-FPN (retinanet_resnet50_fpn, BatchNorm2d in eval) equals torchvision's") {
  check_against_torchvision("retinanet_r50", {50, 1, 64, nn::NormKind::BatchNorm, 0});
}
