// `ghm_retinanet bench train`: a small training step and an inference run end to end, the JSON
// it writes (time, memory, the per-op profile) and its usage errors. The timings themselves are
// benchmarks, not tests: only their presence and sanity are checked here.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/runtime_info.h"
#include "io/json.h"
#include "tests/scratch_dir.h"

using namespace ghm;

namespace {

io::Json read_json(const std::string& path) { return io::Json::parse(testing::read_file(path), path); }

// A ResNet-18 RetinaNet small enough for a test: narrow FPN and head, 64x64 images.
std::vector<std::string> small(const std::string& mode, const std::string& json) {
  return {"train", "--depth", "18", "--set", "model.fpn.width=32", "--set", "model.head.num_classes=5",
          "--mode", mode, "--batch", "2", "--size", "64x96", "--boxes", "3", "--threads", "1",
          "--warmup", "0", "--repeats", "2", "--profile", "--json", json};
}

}  // namespace

TEST_CASE("bench train: a training step with its profile") {
  testing::ScratchDir dir("bench_train");
  const std::string json = dir.file("train.json");
  REQUIRE(app::run_bench(small("train", json)) == 0);
  const io::Json r = read_json(json);
  CHECK(r.at("mode").as_string() == "train");
  CHECK(r.at("depth").as_double() == 18);
  CHECK(r.at("runs_ms").as_array().size() == 2);
  CHECK(r.at("median_ms").as_double() > 0);
  CHECK(r.at("peak_rss_mib").as_double() > 0);
  CHECK(r.at("peak_tensor_mib").as_double() > 0);
  CHECK(r.at("peak_tensor_mib").as_double() < r.at("peak_rss_mib").as_double());
  std::set<std::string> names;
  double profiled = 0;
  for (const io::Json& e : r.at("profile").as_array()) {
    names.insert(e.at("name").as_string());
    profiled += e.at("ms").as_double();
  }
  for (const char* expected : {"conv2d", "conv2d backward", "relu", "targets (anchors + assignment)", "ghm_c_loss",
                               "ghm_r_loss", "sgd step", "clip_grad_norm"}) {
    INFO(expected);
    CHECK(names.count(expected) == 1);
  }
  // The profile accounts for the whole step, once: it charges every interval to exactly one name.
  const double mean_run = 0.5 * (r.at("runs_ms").at(0).as_double() + r.at("runs_ms").at(1).as_double());
  CHECK(profiled > 0.9 * mean_run);
  CHECK(profiled <= 1.02 * mean_run + 1.0);
}

TEST_CASE("bench train: inference (forward + post-processing)") {
  testing::ScratchDir dir("bench_infer");
  const std::string json = dir.file("infer.json");
  REQUIRE(app::run_bench(small("infer", json)) == 0);
  const io::Json r = read_json(json);
  CHECK(r.at("mode").as_string() == "infer");
  std::set<std::string> names;
  for (const io::Json& e : r.at("profile").as_array()) names.insert(e.at("name").as_string());
  CHECK(names.count("conv2d") == 1);
  CHECK(names.count("postprocess") == 1);
  CHECK(names.count("conv2d backward") == 0);
}

TEST_CASE("bench train: Faster R-CNN (model.type faster_rcnn), a training step and an inference") {
  testing::ScratchDir dir("bench_frcnn");
  for (const char* mode : {"train", "infer"}) {
    CAPTURE(mode);
    const std::string json = dir.file(std::string(mode) + ".json");
    std::vector<std::string> args = small(mode, json);
    args.insert(args.end(), {"--set", "model.type=faster_rcnn", "--set", "model.faster_rcnn.roi.representation=64"});
    REQUIRE(app::run_bench(args) == 0);
    const io::Json r = read_json(json);
    CHECK(r.at("mode").as_string() == mode);
    CHECK(r.at("median_ms").as_double() > 0);
    std::set<std::string> names;
    for (const io::Json& e : r.at("profile").as_array()) names.insert(e.at("name").as_string());
    CHECK(names.count("roi_align") == 1);
    CHECK(names.count("conv2d backward") == (std::string(mode) == "train" ? 1 : 0));
    if (std::string(mode) == "train") CHECK(names.count("sgd step") == 1);
  }
}

TEST_CASE("bench train: usage errors") {
  CHECK_THROWS_AS(app::run_bench({"train", "--mode", "fit"}), app::UsageError);
  CHECK_THROWS_AS(app::run_bench({"train", "--size", "512"}), app::UsageError);
  CHECK_THROWS_AS(app::run_bench({"train", "--batch", "0"}), app::UsageError);
  CHECK_THROWS_AS(app::run_bench({"train", "--frobnicate", "1"}), app::UsageError);
  CHECK_THROWS_WITH_AS(app::run_bench({"train", "--depth", "18", "--input", "/nonexistent/x.safetensors"}),
                       doctest::Contains("/nonexistent/x.safetensors"), std::exception);
  CHECK_THROWS_WITH_AS(app::run_bench({"train", "--depth", "18", "--device", "gpu"}),
                       doctest::Contains("device 'gpu' must be cpu, cuda or cuda:I"), std::exception);
  CHECK_THROWS_WITH_AS(app::run_bench({"train", "--depth", "18", "--device", "cuda:99"}),
                       doctest::Contains("device 'cuda:99'"), std::exception);
  if (!cuda_gpu_available())  // the reason is named: no CUDA backend in this build, or no GPU
    CHECK_THROWS_WITH_AS(app::run_bench({"train", "--depth", "18", "--device", "cuda"}),
                         doctest::Contains("device 'cuda': "), std::exception);
}

TEST_CASE("bench elementwise: every kernel is timed against the copy and reported in JSON") {
  testing::ScratchDir dir("bench_elementwise");
  const std::string json = dir.file("elementwise.json");
  REQUIRE(app::run_bench({"elementwise", "--elements", "5000", "--warmup", "0", "--repeats", "1", "--json", json}) ==
          0);
  const io::Json j = read_json(json);
  CHECK(j.at("device").as_string() == "cpu");
  CHECK(j.at("elements").as_int() == 5120);  // rounded up to whole rows of 1024
  const auto& rows = j.at("rows").as_array();
  REQUIRE(rows.size() == 9);
  CHECK(rows[0].at("name").as_string() == "copy");
  CHECK(rows[0].at("of_copy").as_double() == doctest::Approx(1.0));
  for (const io::Json& r : rows) CHECK(r.at("gbps").as_double() > 0);
  CHECK_THROWS_AS(app::run_bench({"elementwise", "--repeats", "0"}), app::UsageError);
  CHECK_THROWS_AS(app::run_bench({"elementwise", "--elements", "x"}), app::UsageError);
}
