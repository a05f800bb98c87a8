// `ghm_retinanet forward`: the model in evaluation mode on a tensor from a file, writing every
// level's FPN output and head outputs, for cross-checks with other implementations (torchvision's
// models with the same weights give the same numbers: tests/nn/test_torchvision_equivalence.cpp,
// tests/detection/test_faster_rcnn_equivalence.cpp).
//
//   input:  `image` [N, 3, H, W] f32 (already normalised; H and W multiples of 32 for Faster R-CNN,
//           whose images are taken as the whole tensor)
//   output, model.type retinanet:
//           `p3`..`p7` [N, C, H_l, W_l], `cls.0`..`cls.4` [N, A*K, H_l, W_l], `box.0`..`box.4` [N, A*4, H_l, W_l]
//   output, model.type faster_rcnn:
//           `p2`..`p6`, `objectness.0`..`.4` [N, A, H_l, W_l], `rpn_deltas.0`..`.4` [N, 4A, H_l, W_l],
//           per image i `proposals.i` [P_i, 4] and `proposal_scores.i` [P_i], `class_logits` [sum P_i, K+1],
//           `box_deltas` [sum P_i, 4(K+1)], and the detections `boxes.i` [D_i, 4], `scores.i` [D_i],
//           `labels.i` [D_i] i64 (the model's: 1..K, 0 being the background, as torchvision's)
#include <cstdio>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "engine/detector.h"
#include "core/autograd.h"
#include "io/safetensors.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine

namespace {

std::vector<std::pair<std::string, Tensor>> faster_rcnn_outputs(detection::FasterRcnn& model, const Tensor& image) {
  GHM_CHECK(image.size(2) % 32 == 0 && image.size(3) % 32 == 0, "forward: Faster R-CNN takes images whose sides are "
            "multiples of 32 (FPN P2..P6), got ", image.shape());
  const std::vector<detection::ImageSize> sizes(static_cast<std::size_t>(image.size(0)), {image.size(2), image.size(3)});
  const detection::FasterRcnnOutput y = model.forward(image, sizes);
  std::vector<std::pair<std::string, Tensor>> t;
  for (std::size_t l = 0; l < y.features.size(); ++l) t.emplace_back("p" + std::to_string(l + 2), y.features[l]);
  for (std::size_t l = 0; l < y.objectness.size(); ++l) {
    t.emplace_back("objectness." + std::to_string(l), y.objectness[l]);
    t.emplace_back("rpn_deltas." + std::to_string(l), y.rpn_deltas[l]);
  }
  for (std::size_t i = 0; i < y.proposals.size(); ++i) {
    t.emplace_back("proposals." + std::to_string(i), y.proposals[i].boxes);
    t.emplace_back("proposal_scores." + std::to_string(i), y.proposals[i].scores);
  }
  t.emplace_back("class_logits", y.class_logits);
  t.emplace_back("box_deltas", y.box_deltas);
  for (std::size_t i = 0; i < y.detections.size(); ++i) {
    t.emplace_back("boxes." + std::to_string(i), y.detections[i].boxes);
    t.emplace_back("scores." + std::to_string(i), y.detections[i].scores);
    t.emplace_back("labels." + std::to_string(i), y.detections[i].labels);
  }
  return t;
}

}  // namespace

int run_forward(const std::vector<std::string>& args) {
  const auto app = cli::make_command("forward", "run the model (evaluation mode) on an image tensor");
  std::string config_path, weights, input, out, device = "cpu";
  std::vector<std::string> overrides;
  cli::add_config(*app, config_path);
  app->add_option("--weights", weights, "the model's weights")->type_name("W.safetensors")->required();
  app->add_option("--input", input, "'image' [N, 3, H, W] f32, already normalised")
      ->type_name("X.safetensors")
      ->required();
  app->add_option("--out", out, "the outputs (see the top of apps/cmd_forward.cpp)")->type_name("Y.safetensors")->required();
  cli::add_overrides(*app, overrides);
  cli::add_precision(*app, overrides, "test.precision");
  app->add_option("--device", device, "the model runs on the CPU")->check(CLI::IsMember({"cpu"}));
  if (!cli::parse(*app, args)) return 0;

  const io::Json config = load_config(config_path, overrides);
  Generator gen(0);
  const std::unique_ptr<Detector> detector = make_detector(config, gen);
  nn::Module& model = detector->module();
  const io::SafetensorsData w = io::load_safetensors(weights);
  try {
    model.load_state(w.tensors, nn::Strict::Yes);
  } catch (const Error& e) {
    GHM_FAIL(weights, ": ", e.what());
  }
  model.eval();
  const io::SafetensorsData in = io::load_safetensors(input);
  const Tensor image = in.at("image");
  GHM_CHECK(image.dtype() == DType::F32 && image.dim() == 4 && image.size(1) == 3, input,
            ": 'image' must be f32 [N, 3, H, W], got ", image.dtype(), " ", image.shape());
  const Precision precision = test_config(config).precision;
  check_precision(precision, Device::cpu(), "test.precision");
  NoGradGuard no_grad;
  const AutocastScope autocast(precision);
  std::vector<std::pair<std::string, Tensor>> tensors;
  if (detector->type() == ModelType::FasterRcnn) {
    tensors = faster_rcnn_outputs(static_cast<detection::FasterRcnn&>(model), image);
    io::save_safetensors(out, tensors, {{"config", config.dump()}});
    return 0;
  }
  const detection::RetinaNetOutput y = static_cast<detection::RetinaNet&>(model).forward(image);
  for (std::size_t l = 0; l < y.features.size(); ++l) tensors.emplace_back("p" + std::to_string(l + 3), y.features[l]);
  for (std::size_t l = 0; l < y.cls_logits.size(); ++l) tensors.emplace_back("cls." + std::to_string(l), y.cls_logits[l]);
  for (std::size_t l = 0; l < y.box_deltas.size(); ++l) tensors.emplace_back("box." + std::to_string(l), y.box_deltas[l]);
  io::save_safetensors(out, tensors, {{"config", config.dump()}});
  return 0;
}

}  // namespace ghm::app
