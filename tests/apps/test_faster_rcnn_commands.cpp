// `model.type: faster_rcnn` through the commands: forward reproduces torchvision's FasterRCNN on the
// inference fixture (tools/make_fixtures_faster_rcnn.py; the formula weights, 1e-4 relative as
// tests/detection/test_faster_rcnn_equivalence.cpp); train on the tiny shapes set lowers the loss,
// and a run resumed from a mid-epoch checkpoint repeats the uninterrupted run's losses exactly (the
// RoI and anchor sampling are seeded per step); GHM-R as the second stage's box loss trains and its
// EMA state is checkpointed; eval and detect write well-formed results.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/trainer.h"
#include "io/safetensors.h"
#include "tests/detection/faster_rcnn_fixture.h"
#include "tiny_detector.h"

using namespace ghm;
using testing::mean_loss;
using testing::read_log;
using testing::read_text;
namespace fs = std::filesystem;

TEST_CASE("forward command: model.type faster_rcnn reproduces torchvision's FasterRCNN outputs") {
  const io::SafetensorsData f = test::load_faster_rcnn_fixture("model_faster_rcnn_r18.safetensors");
  const auto dir = fs::temp_directory_path() / ("ghm_forward_frcnn_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cfg = (dir / "r18.yaml").string(), weights = (dir / "w.safetensors").string(),
                    input = (dir / "x.safetensors").string(), out = (dir / "y.safetensors").string();
  std::ofstream(cfg) << "model:\n  type: faster_rcnn\n  backbone: {depth: 18, norm: frozen_bn}\n"
                        "  head: {num_classes: 4}\n";
  io::save_safetensors(weights, test::faster_rcnn_r18(f)->state());
  io::save_safetensors(input, {{"image", f.at("image")}});
  REQUIRE(app::run_forward({"--config", cfg, "--weights", weights, "--input", input, "--out", out}) == 0);
  const io::SafetensorsData y = io::load_safetensors(out);
  CHECK(test::relative_error(y.at("p5"), f.at("p5")) <= 1e-4);
  CHECK(test::relative_error(y.at("p6"), f.at("p6")) <= 1e-4);
  for (int l = 0; l < 5; ++l) {
    CAPTURE(l);
    CHECK(test::relative_error(y.at("objectness." + std::to_string(l)), f.at("objectness." + std::to_string(l))) <= 1e-4);
    CHECK(test::relative_error(y.at("rpn_deltas." + std::to_string(l)), f.at("deltas." + std::to_string(l))) <= 1e-4);
  }
  // Image 0 fills the tensor (64 x 96) in the fixture too, so its proposals are the fixture's.
  REQUIRE(y.at("proposals.0").shape() == f.at("proposals.0").shape());
  CHECK(test::relative_error(y.at("proposals.0"), f.at("proposals.0")) <= 1e-4);
  CHECK(y.contains("class_logits"));
  CHECK(y.at("labels.0").dtype() == DType::I64);
  // Sides that are not multiples of 32 are an error naming the rule.
  io::save_safetensors(input, {{"image", Tensor::zeros(Shape{1, 3, 50, 64})}});
  CHECK_THROWS_WITH_AS(app::run_forward({"--config", cfg, "--weights", weights, "--input", input, "--out", out}),
                       doctest::Contains("multiples of 32"), Error);
  fs::remove_all(dir);
}

namespace {

struct TinyFasterRcnn : testing::TinyDetector {
  TinyFasterRcnn()
      : TinyDetector("frcnn_cmd", std::string(testing::kEightEpochs) + "  checkpoint_interval: 3\n") {}
  io::Json faster(std::vector<std::string> overrides = {}) const {
    overrides.insert(overrides.begin(), {"model.type=faster_rcnn", "model.faster_rcnn.roi.representation=64"});
    return load(overrides);
  }
};

}  // namespace

TEST_CASE("train, eval and detect with model.type faster_rcnn: the loss falls, resume repeats it exactly") {
  const TinyFasterRcnn s;
  const engine::TrainOutcome full = engine::train_detector(s.faster(), s.options("full"));
  CHECK(full.iterations == 16);
  const std::vector<io::Json> log = read_log(fs::path(s.options("full").work_dir) / "log.jsonl");
  REQUIRE(log.size() == 16);
  CHECK(mean_loss(log, 12, 16) < 0.8 * mean_loss(log, 0, 4));

  const fs::path copy = s.options("resumed").work_dir;
  fs::create_directories(copy);
  for (const char* name : {"iter_3.safetensors", "iter_6.safetensors", "iter_9.safetensors", "log.jsonl"})
    fs::copy_file(fs::path(s.options("full").work_dir) / name, copy / name);
  const engine::TrainOutcome resumed = engine::train_detector(s.faster(), s.options("resumed", true));
  CHECK(resumed.iterations == 16);
  const std::vector<io::Json> again = read_log(copy / "log.jsonl");
  REQUIRE(again.size() == 16);
  for (std::size_t i = 0; i < 16; ++i) {
    CAPTURE(i);
    CHECK(again[i].at("loss_cls").as_double() == log[i].at("loss_cls").as_double());
    CHECK(again[i].at("loss_reg").as_double() == log[i].at("loss_reg").as_double());
  }

  // GHM-R in the second stage: trains, and its EMA state is in the checkpoint.
  const engine::TrainOutcome ghmr =
      engine::train_detector(s.faster({"model.faster_rcnn.roi.box_loss=ghmr", "train.epochs=2"}), s.options("ghmr"));
  CHECK(ghmr.iterations == 4);
  const io::SafetensorsData ck = io::load_safetensors(ghmr.last_checkpoint);
  const std::vector<float> acc = ck.at("ghm.reg.acc_sum").to_vector<float>();
  CHECK(acc.size() == 10);  // ghmr_bins
  double filled = 0;
  for (const float v : acc) filled += v;
  CHECK(filled > 0);

  // eval and detect on the short run's checkpoint: the same files as RetinaNet's.
  const std::vector<std::string> set = {"--set", "model.type=faster_rcnn", "--set",
                                        "model.faster_rcnn.roi.representation=64"};
  std::vector<std::string> eval_args = {"--config", s.config.string(), "--checkpoint", full.last_checkpoint,
                                        "--json", (s.root / "stats.json").string()};
  eval_args.insert(eval_args.end(), set.begin(), set.end());
  REQUIRE(app::run_eval(eval_args) == 0);
  const io::Json st = io::Json::parse(read_text(s.root / "stats.json"), "stats.json");
  CHECK(st.at("stats").size() == 12);
  std::vector<std::string> detect_args = {"--config", s.config.string(), "--checkpoint", full.last_checkpoint,
                                          "--out", (s.root / "detect").string(), "--score-thresh", "0.01",
                                          (s.root / "shapes" / "val").string()};
  detect_args.insert(detect_args.end() - 1, set.begin(), set.end());
  REQUIRE(app::run_detect(detect_args) == 0);
  int images = 0;
  for (const auto& e : fs::directory_iterator(s.root / "detect")) {
    if (e.path().extension() != ".json") continue;
    ++images;
    const io::Json d = io::Json::parse(read_text(e.path()), e.path().string());
    for (std::size_t i = 0; i < d.at("detections").size(); ++i)
      CHECK(d.at("detections").at(i).at("score").as_double() >= 0.01);
  }
  CHECK(images == 4);
}
