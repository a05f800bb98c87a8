// Dynamic loss scaling through the trainer (nn/grad_scaler.h; on by default for fp16, which runs on
// CUDA, and available in every precision as train.loss_scale: dynamic, which is how the CPU tests
// it). A tiny RetinaNet on eight shapes images:
//   * scaling by a power of two is exact: a float32 run with dynamic scaling repeats the unscaled
//     run's losses and final weights bit for bit;
//   * a forced overflow (a first scale of 2^120) skips the steps whose gradients are inf, leaves
//     the weights untouched, halves the scale each time, and then trains; with a growth interval of
//     2 the scale doubles again after two good steps;
//   * a resumed run continues with the checkpoint's scale and repeats the uninterrupted run.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/trainer.h"
#include "io/json.h"
#include "tiny_detector.h"

using namespace ghm;
using testing::read_log;
namespace fs = std::filesystem;

namespace {

struct ScaleSetup : testing::TinyDetector {
  ScaleSetup()
      : TinyDetector("loss_scale",
                     "  threads: 2\n"
                     "  batch_size: 4\n"
                     "  epochs: 6\n"
                     "  lr: 0.01\n"
                     "  warmup_iters: 4\n"
                     "  warmup_ratio: 0.1\n"
                     "  steps: [5]\n"
                     "  log_interval: 1\n"
                     "  checkpoint_interval: 1\n"
                     "  keep_checkpoints: 100\n") {}
  std::vector<io::Json> train(const std::string& name, const std::vector<std::string>& overrides) const {
    engine::train_detector(load(overrides), options(name));
    return read_log(fs::path(options(name).work_dir) / "log.jsonl");
  }
  std::vector<std::vector<float>> weights(const std::string& name, int iteration) const {
    const io::Json cfg = load();
    Generator gen(7);
    detection::RetinaNet model(engine::retinanet_config(cfg), gen);
    engine::load_model_weights(options(name).work_dir + "/iter_" + std::to_string(iteration) + ".safetensors", model,
                               nn::Strict::Yes);
    std::vector<std::vector<float>> out;
    for (const auto& [key, t] : model.named_parameters()) out.push_back(t.to_vector<float>());  // not BN buffers
    return out;
  }
};

const ScaleSetup& setup() {
  static const ScaleSetup s;
  return s;
}

const std::vector<std::string> kOverflow{"train.loss_scale=dynamic", "train.loss_scale_init=1.329227995784916e36",
                                         "train.loss_scale_window=2"};  // 2^120

}  // namespace

TEST_CASE("loss scale: dynamic scaling of a float32 run repeats the unscaled run bit for bit") {
  const ScaleSetup& s = setup();
  const std::vector<io::Json> plain = s.train("plain", {}), scaled = s.train("scaled", {"train.loss_scale=dynamic"});
  REQUIRE(plain.size() == 12);
  REQUIRE(scaled.size() == 12);
  for (std::size_t i = 0; i < plain.size(); ++i) {
    CAPTURE(i);
    CHECK(scaled[i].at("loss").as_double() == plain[i].at("loss").as_double());
    CHECK(scaled[i].at("grad_norm").as_double() == plain[i].at("grad_norm").as_double());
    CHECK(scaled[i].at("loss_scale").as_double() == 65536.0);
    CHECK(plain[i].at("loss_scale").as_double() == 1.0);
    CHECK(scaled[i].at("skipped_steps").as_int() == 0);
  }
  CHECK(s.weights("scaled", 12) == s.weights("plain", 12));
}

TEST_CASE("loss scale: an overflow skips the step with the weights untouched and halves the scale, then it grows") {
  const ScaleSetup& s = setup();
  const std::vector<io::Json> log = s.train("overflow", kOverflow);
  REQUIRE(log.size() == 12);
  CHECK(log[0].at("skipped_steps").as_int() == 1);  // gradients times 2^120 are inf
  CHECK(log[0].at("loss_scale").as_double() == 0x1p119);
  REQUIRE(log[1].at("skipped_steps").as_int() == 1);  // times 2^119: still inf
  CHECK(s.weights("overflow", 1) == s.weights("overflow", 2));  // a skipped step leaves the weights alone
  int skipped = 0, grew = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    CAPTURE(i);
    const double scale = log[i].at("loss_scale").as_double(), before = i == 0 ? 0x1p120 : log[i - 1].at("loss_scale").as_double();
    if (log[i].at("skipped_steps").as_int() == 1) {
      ++skipped;
      CHECK(scale == before / 2);
    } else {
      CHECK(std::isfinite(log[i].at("grad_norm").as_double()));
      if (scale == 2 * before) ++grew;
      else CHECK(scale == before);
    }
  }
  CHECK(skipped >= 2);
  CHECK(skipped < 12);  // it trains once the scale fits
  CHECK(grew >= 1);     // window 2: two good steps in a row double it
  MESSAGE("skipped ", skipped, " of 12 steps; the scale doubled ", grew, " times; final scale ",
          log.back().at("loss_scale").as_double());
}

TEST_CASE("loss scale: a resumed run continues with the checkpoint's scale and repeats the uninterrupted run") {
  const ScaleSetup& s = setup();
  const std::vector<io::Json> full = s.train("scale_full", kOverflow);
  const fs::path copy = s.options("scale_resumed").work_dir;
  fs::create_directories(copy);
  fs::copy_file(fs::path(s.options("scale_full").work_dir) / "iter_6.safetensors", copy / "iter_6.safetensors");
  {
    std::ofstream out(copy / "log.jsonl");
    for (std::size_t i = 0; i < 6; ++i) out << full[i].dump() << "\n";
  }
  engine::train_detector(s.load(kOverflow), s.options("scale_resumed", true));
  const std::vector<io::Json> again = read_log(copy / "log.jsonl");
  REQUIRE(again.size() == 12);
  for (std::size_t i = 6; i < 12; ++i) {
    CAPTURE(i);
    CHECK(again[i].at("loss").as_double() == full[i].at("loss").as_double());
    CHECK(again[i].at("loss_scale").as_double() == full[i].at("loss_scale").as_double());
    CHECK(again[i].at("skipped_steps").as_int() == full[i].at("skipped_steps").as_int());
  }
}

TEST_CASE("loss scale: bad settings name the key") {
  const ScaleSetup& s = setup();
  CHECK_THROWS_WITH_AS(engine::train_config(s.load({"train.loss_scale=1000"})),
                       doctest::Contains("loss_scale"), Error);
  CHECK_THROWS_WITH_AS(engine::train_config(s.load({"train.loss_scale=sometimes"})),
                       doctest::Contains("'sometimes' is not one of auto | dynamic | none"), Error);
  CHECK_THROWS_WITH_AS(engine::train_config(s.load({"train.loss_scale=dynamic", "train.loss_scale_init=3"})),
                       doctest::Contains("loss_scale_init"), Error);
  CHECK(engine::train_config(s.load({})).loss_scale.dynamic == false);
  CHECK(engine::train_config(s.load({"train.precision=fp16"})).loss_scale.dynamic);
}
