// `ghm_retinanet forward` end to end: a YAML config, weights in a safetensors file and an input
// tensor give the torchvision fixture's outputs (the R18 case of test_torchvision_equivalence.cpp,
// same formula weights, same 1e-4 relative tolerance); config and weight errors name the file.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "apps/commands.h"
#include "engine/config.h"
#include "io/safetensors.h"
#include "nn/torchvision_formula.h"
#include "test_paths.h"

using namespace ghm;

TEST_CASE("forward command: config + converted-style weights reproduce torchvision's R18 outputs") {
  const io::SafetensorsData f = io::load_safetensors(::ghm::testing::test_data_dir() + "/model_retinanet_r18.safetensors");
  const auto dir = std::filesystem::temp_directory_path() / ("ghm_forward_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cfg = (dir / "r18.yaml").string(), weights = (dir / "w.safetensors").string(),
                    input = (dir / "x.safetensors").string(), out = (dir / "y.safetensors").string();
  std::ofstream(cfg) << "model:\n  backbone:\n    depth: 18\n    norm: frozen_bn\n  fpn:\n    p6_from: p5\n  head:\n"
                        "    num_classes: "
                     << f.metadata.at("num_classes") << "\n";
  {
    Generator gen(1);
    detection::RetinaNet model(engine::retinanet_config(engine::load_config(cfg, {})), gen);
    test::set_model_by_formula(model, f.metadata.at("state_names"));
    io::save_safetensors(weights, model.state());
  }
  io::save_safetensors(input, {{"image", f.at("image")}});
  REQUIRE(app::run_forward({"--config", cfg, "--weights", weights, "--input", input, "--out", out}) == 0);
  const io::SafetensorsData y = io::load_safetensors(out);
  for (int l = 0; l < 5; ++l)
    for (const std::string& key : {"p" + std::to_string(l + 3), "cls." + std::to_string(l), "box." + std::to_string(l)}) {
      CAPTURE(key);
      CHECK(test::relative_error(y.at(key), f.at(key)) <= 1e-4);
    }

  // A config the model cannot use, and weights that do not fit, are errors naming the file.
  CHECK_THROWS_WITH_AS(app::run_forward({"--config", cfg, "--weights", weights, "--input", input, "--out", out, "--set",
                                         "model.head.num_classes=7"}),
                       doctest::Contains(weights.c_str()), Error);
  std::ofstream(cfg) << "model:\n  backbone:\n    depht: 18\n";
  CHECK_THROWS_WITH_AS(engine::load_config(cfg, {}), doctest::Contains("depht"), Error);
  std::ofstream(cfg) << "model:\n  fpn:\n    p6_from: p4\n";
  CHECK_THROWS_WITH_AS(engine::retinanet_config(engine::load_config(cfg, {})), doctest::Contains("p6_from"), Error);
  CHECK_THROWS_AS(app::run_forward({"--config", cfg}), app::UsageError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("config: configs/retinanet_r50_fpn_torchvision.yaml reads as torchvision's layout (91 classes, P6 from P5, frozen BN)") {
  const detection::RetinaNetConfig c =
      engine::retinanet_config(engine::load_config(::ghm::testing::source_dir() + "/configs/retinanet_r50_fpn_torchvision.yaml", {}));
  CHECK(c.num_classes == 91);
  CHECK(c.p6_source == nn::P6Source::P5);
  CHECK(c.backbone.depth == 50);
  CHECK(c.backbone.norm == nn::NormKind::FrozenBatchNorm);
}
