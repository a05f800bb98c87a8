// `ghm_retinanet forward`: the model in evaluation mode on a tensor from a file, writing every
// level's FPN output and head outputs, for cross-checks with other implementations (torchvision's
// RetinaNet with the same weights gives the same numbers: tests/nn/test_torchvision_equivalence.cpp).
//
//   input:  `image` [N, 3, H, W] f32 (already normalised)
//   output: `p3`..`p7` [N, C, H_l, W_l], `cls.0`..`cls.4` [N, A*K, H_l, W_l], `box.0`..`box.4` [N, A*4, H_l, W_l]
#include <cstdio>

#include "apps/cli.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "core/autograd.h"
#include "io/safetensors.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine

int run_forward(const std::vector<std::string>& args) {
  const auto app = cli::make_command("forward", "run the model (evaluation mode) on an image tensor");
  std::string config_path, weights, input, out, device = "cpu";
  std::vector<std::string> overrides;
  cli::add_config(*app, config_path);
  app->add_option("--weights", weights, "the model's weights")->type_name("W.safetensors")->required();
  app->add_option("--input", input, "'image' [N, 3, H, W] f32, already normalised")
      ->type_name("X.safetensors")
      ->required();
  app->add_option("--out", out, "p3..p7, cls.0..cls.4, box.0..box.4")->type_name("Y.safetensors")->required();
  cli::add_overrides(*app, overrides);
  cli::add_precision(*app, overrides, "test.precision");
  app->add_option("--device", device, "the model runs on the CPU")->check(CLI::IsMember({"cpu"}));
  if (!cli::parse(*app, args)) return 0;

  const io::Json config = load_config(config_path, overrides);
  Generator gen(0);
  detection::RetinaNet model(retinanet_config(config), gen);
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
  const detection::RetinaNetOutput y = model.forward(image);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (std::size_t l = 0; l < y.features.size(); ++l) tensors.emplace_back("p" + std::to_string(l + 3), y.features[l]);
  for (std::size_t l = 0; l < y.cls_logits.size(); ++l) tensors.emplace_back("cls." + std::to_string(l), y.cls_logits[l]);
  for (std::size_t l = 0; l < y.box_deltas.size(); ++l) tensors.emplace_back("box." + std::to_string(l), y.box_deltas[l]);
  io::save_safetensors(out, tensors, {{"config", config.dump()}});
  return 0;
}

}  // namespace ghm::app
