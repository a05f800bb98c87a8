// The detector app end to end, small enough for CI: a tiny RetinaNet (ResNet-18 at 1/8 width) on
// eight 128-px shapes images. Training must lower the loss; a run resumed from a mid-epoch
// checkpoint must repeat the uninterrupted run's losses exactly; eval and detect must write
// well-formed JSON; bad configs, missing files and a diverging run must fail with errors that name
// the problem, leaving the last checkpoint loadable.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "engine/trainer.h"
#include "core/check.h"
#include "detection/retinanet/model.h"
#include "io/json.h"
#include "tiny_detector.h"

using namespace ghm;
using testing::mean_loss;
using testing::read_log;
using testing::read_text;
namespace fs = std::filesystem;

namespace {

// One dataset and config for all cases (generated once per process). A fixed thread count: with
// threads 0 the count follows the machine's load (core/cpu/fair_share.h), and the exact-resume
// case compares losses bit for bit.
struct TinySetup : testing::TinyDetector {
  TinySetup() : TinyDetector("train_cmd", testing::kEightEpochs) {}
};

const TinySetup& setup() {
  static const TinySetup s;
  return s;
}

}  // namespace

TEST_CASE("train: the loss falls, a mid-epoch resume repeats the losses exactly, checkpoints round-trip") {
  const TinySetup& s = setup();
  const engine::TrainOutcome full = engine::train_detector(s.load({"train.checkpoint_interval=3"}), s.options("full"));
  CHECK(full.iterations == 16);  // 8 epochs x 2 batches
  CHECK(full.stop_signal == 0);
  const std::vector<io::Json> log = read_log(fs::path(s.options("full").work_dir) / "log.jsonl");
  REQUIRE(log.size() == 16);
  CHECK(mean_loss(log, 12, 16) < 0.8 * mean_loss(log, 0, 4));
  CHECK(fs::exists(fs::path(s.options("full").work_dir) / "config.json"));

  // Pretend the run died after iteration 9 (mid-epoch 5): keep checkpoints up to iter_9 only.
  const fs::path copy = s.options("resumed").work_dir;
  fs::create_directories(copy);
  for (const std::string& c : engine::list_checkpoints(s.options("full").work_dir)) {
    const fs::path p(c);
    if (p.filename() == "iter_3.safetensors" || p.filename() == "iter_6.safetensors" ||
        p.filename() == "iter_9.safetensors")
      fs::copy_file(p, copy / p.filename());
  }
  fs::copy_file(fs::path(s.options("full").work_dir) / "log.jsonl", copy / "log.jsonl");
  const engine::TrainOutcome resumed =
      engine::train_detector(s.load({"train.checkpoint_interval=3"}), s.options("resumed", true));
  CHECK(resumed.iterations == 16);
  const std::vector<io::Json> again = read_log(copy / "log.jsonl");
  REQUIRE(again.size() == 16);  // the lines after iteration 9 were replaced, not duplicated
  for (std::size_t i = 0; i < 16; ++i) {
    CAPTURE(i);
    CHECK(again[i].at("iteration").as_int() == static_cast<std::int64_t>(i + 1));
    // exact: the same data, the same state, the same arithmetic
    CHECK(again[i].at("loss").as_double() == log[i].at("loss").as_double());
    CHECK(again[i].at("loss_cls").as_double() == log[i].at("loss_cls").as_double());
    CHECK(again[i].at("loss_reg").as_double() == log[i].at("loss_reg").as_double());
    CHECK(again[i].at("lr").as_double() == log[i].at("lr").as_double());
  }

  // The final checkpoint holds the model exactly: the two runs' final weights are identical.
  const detection::RetinaNetConfig mc = engine::retinanet_config(s.load());
  Generator g1(1), g2(2);
  detection::RetinaNet a(mc, g1), b(mc, g2);
  engine::load_model_weights(full.last_checkpoint, a, nn::Strict::Yes);
  engine::load_model_weights(resumed.last_checkpoint, b, nn::Strict::Yes);
  const auto sa = a.state(), sb = b.state();
  REQUIRE(sa.size() == sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    CAPTURE(sa[i].first);
    REQUIRE(sa[i].second.to_vector<float>() == sb[i].second.to_vector<float>());
  }
}

TEST_CASE("eval and detect write well-formed JSON") {
  const TinySetup& s = setup();
  const engine::TrainOutcome run = engine::train_detector(s.load({"train.epochs=2"}), s.options("short"));
  const fs::path dets = s.root / "dets.json", stats = s.root / "stats.json";
  REQUIRE(app::run_eval({"--config", s.config.string(), "--checkpoint", run.last_checkpoint, "--out", dets.string(),
                         "--json", stats.string()}) == 0);
  const io::Json results = io::Json::parse(read_text(dets), dets.string());
  REQUIRE(results.is_array());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const io::Json& r = results.at(i);
    CHECK(r.at("bbox").size() == 4);
    CHECK(r.at("score").as_double() >= 0.01);
    CHECK(r.at("category_id").as_int() >= 1);
    CHECK(r.at("category_id").as_int() <= 7);
  }
  const io::Json st = io::Json::parse(read_text(stats), stats.string());
  CHECK(st.at("stats").size() == 12);
  CHECK(st.at("per_class").size() == 7);
  REQUIRE(st.at("ap_per_iou").size() == 10);
  CHECK(st.at("ap_per_iou").at(0).as_double() == st.at("stats").at(1).as_double());

  const fs::path out = s.root / "detect";
  REQUIRE(app::run_detect({"--config", s.config.string(), "--checkpoint", run.last_checkpoint, "--out", out.string(),
                           "--score-thresh", "0.01", (s.root / "shapes" / "val").string()}) == 0);
  int images = 0;
  for (const auto& e : fs::directory_iterator(out)) {
    if (e.path().extension() != ".json") continue;
    ++images;
    const io::Json d = io::Json::parse(read_text(e.path()), e.path().string());
    CHECK(d.at("width").as_int() == 128);
    CHECK(d.at("detections").is_array());
    CHECK(fs::exists(fs::path(e.path()).replace_extension(".jpg")));
  }
  CHECK(images == 4);
}

TEST_CASE("eval and detect with test-time augmentation: the mirror and a second size fused") {
  const TinySetup& s = setup();
  const engine::TrainOutcome run = engine::train_detector(s.load({"train.epochs=2"}), s.options("tta"));
  const auto eval_to = [&](const std::string& name, const std::vector<std::string>& sets) {
    const fs::path out = s.root / name;
    std::vector<std::string> args = {"--config", s.config.string(), "--checkpoint", run.last_checkpoint, "--out",
                                     out.string()};
    for (const std::string& kv : sets) args.insert(args.end(), {"--set", kv});
    REQUIRE(app::run_eval(args) == 0);
    return read_text(out);
  };
  // The configured size alone, unmirrored, is plain inference, bit for bit.
  const std::string plain = eval_to("plain.json", {});
  CHECK(eval_to("one_view.json", {"test.short_sides=[128]"}) == plain);

  const std::string fused_text = eval_to("tta.json", {"test.flip=true", "test.short_sides=[128, 160]"});
  CHECK(fused_text != plain);
  const io::Json fused = io::Json::parse(fused_text, "tta.json");
  REQUIRE(fused.is_array());
  std::map<std::int64_t, int> per_image;
  for (std::size_t i = 0; i < fused.size(); ++i) {
    const io::Json& r = fused.at(i);
    ++per_image[r.at("image_id").as_int()];
    const io::Json& b = r.at("bbox");
    CHECK(b.at(0).as_double() >= 0.0);
    CHECK(b.at(0).as_double() + b.at(2).as_double() <= 128.0 + 1e-3);  // original pixels, the 160 view too
    CHECK(b.at(1).as_double() + b.at(3).as_double() <= 128.0 + 1e-3);
    CHECK(r.at("score").as_double() > 0.0);
    CHECK(r.at("score").as_double() <= 1.0);
  }
  CHECK(per_image.size() <= 4);
  for (const auto& [image, count] : per_image) CHECK(count <= 100);

  const fs::path out = s.root / "detect_tta";
  REQUIRE(app::run_detect({"--config", s.config.string(), "--checkpoint", run.last_checkpoint, "--out", out.string(),
                           "--set", "test.flip=true", "--score-thresh", "0.01",
                           (s.root / "shapes" / "val" / "000001.jpg").string()}) == 0);
  const io::Json d = io::Json::parse(read_text(out / "000001.json"), "000001.json");
  CHECK(d.at("detections").size() <= 100);
  for (std::size_t i = 0; i < d.at("detections").size(); ++i)  // fused scores, still at least --score-thresh
    CHECK(d.at("detections").at(i).at("score").as_double() >= 0.01 - 1e-9);
}

TEST_CASE("train: bad configs and missing files are errors naming the key or the file") {
  const TinySetup& s = setup();
  CHECK_THROWS_WITH_AS(s.load({"train.learning_rate=0.1"}), doctest::Contains("learning_rate"), Error);
  CHECK_THROWS_WITH_AS(engine::train_detector(s.load({"loss.cls.type=hinge"}), s.options("bad")),
                       doctest::Contains("hinge"), Error);
  CHECK_THROWS_WITH_AS(engine::train_detector(s.load({"train.neg_iou=0.7"}), s.options("bad")),
                       doctest::Contains("neg_iou"), Error);
  CHECK_THROWS_WITH_AS(engine::train_detector(s.load({"dist.grad_precision=fp16"}), s.options("bad")),
                       doctest::Contains("grad_precision: 'fp16' is not one of fp32 | bf16"), Error);
  CHECK_THROWS_WITH_AS(engine::train_detector(s.load({"model.head.num_classes=5"}), s.options("bad")),
                       doctest::Contains("num_classes"), Error);
  CHECK_THROWS_WITH_AS(engine::train_detector(s.load({"data.train_json=missing.json"}), s.options("bad")),
                       doctest::Contains("missing.json"), Error);
  CHECK_THROWS_WITH_AS(engine::train_detector(s.load(), s.options("nothing_to_resume", true)),
                       doctest::Contains("no checkpoint"), Error);
  // An image file that is gone: the error names it.
  const fs::path data = s.root / "shapes_broken";
  fs::copy(s.root / "shapes", data, fs::copy_options::recursive);
  fs::remove(data / "train" / "000002.jpg");
  CHECK_THROWS_WITH_AS(engine::train_detector(s.load({"data.root=" + data.string()}), s.options("bad")),
                       doctest::Contains("000002.jpg"), Error);
}

TEST_CASE("train: a diverging run stops naming the iteration and keeps the last good checkpoint") {
  const TinySetup& s = setup();
  const engine::TrainOptions o = s.options("diverge");
  bool threw = false;
  try {
    engine::train_detector(s.load({"train.lr=10", "train.warmup_iters=0", "train.clip_grad=0",
                                "train.checkpoint_interval=1", "train.epochs=20"}),
                        o);
  } catch (const Error& e) {
    threw = true;
    const std::string what = e.what();
    CAPTURE(what);
    CHECK(what.find("diverged") != std::string::npos);
    CHECK(what.find("iteration") != std::string::npos);
    CHECK(what.find("last good checkpoint") != std::string::npos);
  }
  REQUIRE(threw);
  const std::vector<std::string> kept = engine::list_checkpoints(o.work_dir);
  REQUIRE_FALSE(kept.empty());
  Generator g(0);
  detection::RetinaNet model(engine::retinanet_config(s.load()), g);
  CHECK(engine::load_model_weights(kept.back(), model, nn::Strict::Yes).clean());
  for (const auto& [name, t] : model.state()) {
    if (t.dtype() != DType::F32) continue;
    CAPTURE(name);
    for (float v : t.to_vector<float>()) REQUIRE(std::isfinite(v));
  }
}
