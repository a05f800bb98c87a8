// Mixed precision end to end (docs/precision.md): a tiny RetinaNet trained in bf16 tracks the same
// run in float32; checkpoints written in one precision resume in the other; `forward`, `eval` and
// `detect` take --precision; precisions a device cannot run are errors naming the key.
//
// Tolerances, and why. One bf16 convolution differs from float32 by at most about 2^-7 of the sum
// of its |products| (tests/core/test_conv_bf16.cpp); through the ~25 layers of the tiny model the
// losses of focal + smooth L1 differed by 0.12 % over the first 4 iterations and 0.9 % over the
// last 4 of 16 (checked: 1 % and 3 %). GHM-C + GHM-R differed by 1.3 % at the first iteration
// (checked: 2 %) and are not compared later: GHM's step-shaped weights turn a gradient norm that
// moves across a bin edge into a different weight, so two runs part, as two float32 runs with
// different thread counts do. A bf16 path that silently ran in float32 fails the other side:
// the results must differ. Inference: the 20 highest scores of `eval` moved by 0.0024 (checked:
// 0.02), the head outputs of `forward` by at most 5 % of their largest value.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/check.h"
#include "core/precision.h"
#include "cpu_bf16.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/trainer.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tiny_detector.h"

using namespace ghm;
namespace fs = std::filesystem;

namespace {

// The losses of a run's log.jsonl, one per line.
std::vector<double> logged_losses(const fs::path& log_path) {
  std::vector<double> out;
  for (const io::Json& line : testing::read_log(log_path)) out.push_back(line.at("loss").as_double());
  return out;
}

struct PrecisionSetup : testing::TinyDetector {
  PrecisionSetup()
      : TinyDetector("precision", std::string(testing::kEightEpochs) + "  checkpoint_interval: 4\n") {}
  std::vector<double> train(const std::string& name, const std::vector<std::string>& overrides) const {
    engine::train_detector(load(overrides), options(name));
    return logged_losses(fs::path(options(name).work_dir) / "log.jsonl");
  }
};

const PrecisionSetup& setup() {
  static const PrecisionSetup s;
  return s;
}

double mean(const std::vector<double>& v, std::size_t begin, std::size_t end) {
  double sum = 0;
  for (std::size_t i = begin; i < end; ++i) sum += v[i];
  return sum / static_cast<double>(end - begin);
}

}  // namespace

TEST_CASE("precision: a bf16 training run tracks the float32 run, focal + smooth L1 and GHM-C + GHM-R") {
  if (testing::skip_without_bf16_convolutions()) return;
  const PrecisionSetup& s = setup();
  const std::vector<std::string> focal{"loss.cls.type=focal", "loss.reg.type=sl1", "loss.reg.loss_weight=1"};
  std::vector<std::string> focal_bf16 = focal;
  focal_bf16.push_back("train.precision=bf16");
  const std::vector<double> a = s.train("f32_focal", focal), b = s.train("bf16_focal", focal_bf16);
  REQUIRE(a.size() == 16);
  REQUIRE(b.size() == 16);
  double first = 0;
  for (std::size_t i = 0; i < 4; ++i) first = std::max(first, std::abs(b[i] - a[i]) / a[i]);
  const double last = std::abs(mean(b, 12, 16) - mean(a, 12, 16)) / mean(a, 12, 16);
  CHECK(a[0] != b[0]);  // bf16 really ran
  CHECK(first <= 0.01);
  CHECK(last <= 0.03);
  MESSAGE("focal + smooth L1: largest relative loss difference over the first 4 iterations ", first,
          ", of the last 4 iterations' means ", last);

  // GHM: the first iteration (the same weights; only the forward's arithmetic differs) within 3 %.
  // Later iterations are not compared: GHM's step-shaped weights turn a gradient norm that bf16
  // moves across a bin edge into a different weight, and the runs part (as two float32 runs with
  // different thread counts do, docs/distributed.md).
  const std::vector<double> g = s.train("f32_ghm", {}), h = s.train("bf16_ghm", {"train.precision=bf16"});
  REQUIRE(g.size() == 16);
  REQUIRE(h.size() == 16);
  CHECK(g[0] != h[0]);
  CHECK(std::abs(h[0] - g[0]) / g[0] <= 0.03);  // measured 0.013 (oneDNN, AVX-512), 0.021 (reference kernels)
  for (const double v : h) CHECK(std::isfinite(v));
  CHECK(mean(g, 12, 16) < 0.9 * mean(g, 0, 4));  // both train
  CHECK(mean(h, 12, 16) < 0.9 * mean(h, 0, 4));
  MESSAGE("GHM-C + GHM-R: relative loss difference at the first iteration ", std::abs(h[0] - g[0]) / g[0],
          "; loss of the first and last 4 iterations, fp32 ", mean(g, 0, 4), " -> ", mean(g, 12, 16), ", bf16 ",
          mean(h, 0, 4), " -> ", mean(h, 12, 16));
}

TEST_CASE("precision: a checkpoint written in fp32 resumes in bf16 and one written in bf16 resumes in fp32") {
  if (testing::skip_without_bf16_convolutions()) return;
  const PrecisionSetup& s = setup();
  const std::vector<std::string> focal{"loss.cls.type=focal", "loss.reg.type=sl1", "loss.reg.loss_weight=1"};
  for (const Precision from : {Precision::F32, Precision::BF16}) {
    const Precision to = from == Precision::F32 ? Precision::BF16 : Precision::F32;
    const std::string tag = std::string(precision_name(from)) + "_to_" + precision_name(to);
    CAPTURE(tag);
    std::vector<std::string> first = focal, second = focal;
    first.push_back(std::string("train.precision=") + precision_name(from));
    second.push_back(std::string("train.precision=") + precision_name(to));
    const std::vector<double> straight = s.train("straight_" + tag, second);
    // The first 4 iterations in `from`, their checkpoint, then the rest resumed in `to`.
    const fs::path dir = s.options("resumed_" + tag).work_dir;
    engine::train_detector(s.load(first), s.options("resumed_" + tag));
    for (const std::string& c : engine::list_checkpoints(dir.string()))
      if (fs::path(c).filename() != "iter_4.safetensors") fs::remove(c);
    std::vector<std::string> lines;
    {
      std::ifstream in(dir / "log.jsonl");
      for (std::string line; std::getline(in, line) && lines.size() < 4;) lines.push_back(line);
    }
    {
      std::ofstream out(dir / "log.jsonl", std::ios::trunc);
      for (const std::string& line : lines) out << line << "\n";
    }
    const engine::TrainOutcome resumed = engine::train_detector(s.load(second), s.options("resumed_" + tag, true));
    CHECK(resumed.iterations == 16);
    const std::vector<double> log = logged_losses(dir / "log.jsonl");
    REQUIRE(log.size() == 16);
    // After the resume the run goes on in the other precision and stays with the straight run.
    for (std::size_t i = 4; i < 16; ++i) CHECK(std::abs(log[i] - straight[i]) / straight[i] <= 0.03);
  }
}

TEST_CASE("precision: forward, eval and detect take --precision, and bf16 outputs stay near float32") {
  if (testing::skip_without_bf16_convolutions()) return;
  const PrecisionSetup& s = setup();
  const engine::TrainOutcome run = engine::train_detector(s.load(), s.options("for_inference"));
  const fs::path dir = s.root / "inference";
  fs::create_directories(dir);
  // forward: the same weights and input in both precisions.
  {
    const detection::RetinaNetConfig mc = engine::retinanet_config(s.load());
    Generator gen(0);
    detection::RetinaNet model(mc, gen);
    engine::load_model_weights(run.last_checkpoint, model, nn::Strict::Yes);
    io::save_safetensors((dir / "w.safetensors").string(), model.state());
    io::save_safetensors((dir / "x.safetensors").string(), {{"image", Tensor::normal(Shape{1, 3, 128, 96}, 0, 1, gen)}});
  }
  const auto forward = [&](const std::string& precision) {
    const std::string out = (dir / ("y_" + precision + ".safetensors")).string();
    REQUIRE(app::run_forward({"--config", s.config.string(), "--weights", (dir / "w.safetensors").string(), "--input",
                              (dir / "x.safetensors").string(), "--out", out, "--precision", precision}) == 0);
    return io::load_safetensors(out);
  };
  const io::SafetensorsData y32 = forward("fp32"), y16 = forward("bf16");
  for (const std::string key : {"p3", "cls.0", "box.0", "cls.4"}) {
    CAPTURE(key);
    const std::vector<float> a = y32.at(key).to_vector<float>(), b = y16.at(key).to_vector<float>();
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      diff = std::max(diff, static_cast<double>(std::abs(a[i] - b[i])));
      scale = std::max(scale, static_cast<double>(std::abs(a[i])));
    }
    CHECK(diff > 0);
    CHECK(diff <= 0.05 * scale);
  }
  // eval: both precisions score the split; their highest scores are close, and --precision wins
  // over --set.
  const auto eval = [&](const std::string& name, const std::vector<std::string>& extra) {
    const std::string out = (dir / (name + ".json")).string();
    std::vector<std::string> args{"--config", s.config.string(), "--checkpoint", run.last_checkpoint, "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    REQUIRE(app::run_eval(args) == 0);
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    const io::Json results = io::Json::parse(text.str(), out);
    std::vector<double> scores;
    for (std::size_t i = 0; i < results.size(); ++i) scores.push_back(results.at(i).at("score").as_double());
    std::sort(scores.rbegin(), scores.rend());
    return scores;
  };
  const std::vector<double> s32 = eval("fp32", {}), s16 = eval("bf16", {"--set", "test.precision=fp32", "--precision", "bf16"});
  REQUIRE(s32.size() >= 20);
  REQUIRE(s16.size() >= 20);
  double score_diff = 0;
  for (std::size_t i = 0; i < 20; ++i) score_diff = std::max(score_diff, std::abs(s32[i] - s16[i]));
  CHECK(score_diff > 0);
  CHECK(score_diff <= 0.02);
  MESSAGE("eval: largest difference of the 20 highest scores, fp32 vs bf16: ", score_diff);
  REQUIRE(app::run_detect({"--config", s.config.string(), "--checkpoint", run.last_checkpoint, "--out",
                           (dir / "drawn").string(), "--precision", "bf16", (s.data / "val").string()}) == 0);
  CHECK(!fs::is_empty(dir / "drawn"));
}

TEST_CASE("precision: a precision the device cannot run is an error naming the key") {
  const PrecisionSetup& s = setup();
  CHECK_THROWS_WITH_AS(engine::train_detector(s.load({"train.precision=fp16"}), s.options("fp16")),
                       doctest::Contains("train.precision: fp16 runs on CUDA only"), Error);
  CHECK_THROWS_WITH_AS(engine::train_config(s.load({"train.precision=half"})),
                       doctest::Contains("'half' is not one of fp32 | bf16 | fp16"), Error);
  CHECK_THROWS_AS(app::run_eval({"--config", s.config.string(), "--checkpoint", "x", "--precision", "fp64"}),
                  app::UsageError);
  CHECK_THROWS_WITH_AS(
      app::run_eval({"--config", s.config.string(), "--checkpoint", (s.root / "none").string(), "--precision", "fp16"}),
      doctest::Contains("test.precision: fp16 runs on CUDA only"), Error);
}
