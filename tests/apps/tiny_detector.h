// A detector small enough for unit tests: ResNet-18 at 1/8 width, a 16-wide FPN and one GroupNorm
// conv per head tower, on eight 128-px shapes images (plus four for validation) generated into a
// temporary folder that is removed with the object. `train_section` is the config's `train:`
// block (YAML, indented by two spaces), so each test chooses its schedule.
#pragma once
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "engine/config.h"
#include "engine/trainer.h"
#include "io/json.h"

namespace ghm::testing {

// The schedule most tests train with: 8 epochs of 2 batches of 4 images, a log line per iteration,
// every checkpoint kept; a fixed thread count (with threads 0 the count follows the machine's load,
// core/cpu/fair_share.h, and the exact-resume cases compare losses bit for bit). Append
// "  checkpoint_interval: N\n" for mid-epoch checkpoints.
inline constexpr const char* kEightEpochs =
    "  threads: 2\n"
    "  batch_size: 4\n"
    "  epochs: 8\n"
    "  lr: 0.01\n"
    "  warmup_iters: 4\n"
    "  warmup_ratio: 0.1\n"
    "  steps: [7]\n"
    "  log_interval: 1\n"
    "  keep_checkpoints: 100\n";

struct TinyDetector {
  std::filesystem::path root, data, config;

  TinyDetector(const std::string& tag, const std::string& train_section) {
    root = std::filesystem::temp_directory_path() / ("ghm_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root);
    std::filesystem::create_directories(root);
    data = root / "shapes";
    REQUIRE(app::run_make_shapes({"--out", data.string(), "--train", "8", "--val", "4", "--size", "128", "--seed",
                                  "3"}) == 0);
    config = root / "tiny.yaml";
    std::ofstream(config) << "model:\n"
                             "  backbone: {depth: 18, norm: bn, frozen_stages: 0, base_width: 8}\n"
                             "  fpn: {width: 16}\n"
                             "  anchors: {octave_base_scale: 2}\n"
                             "  head: {num_classes: 7, convs: 1, group_norm: 4}\n"
                             "data:\n"
                             "  root: "
                          << data.string()
                          << "\n"
                             "  train_json: train.json\n"
                             "  train_images: .\n"
                             "  val_json: val.json\n"
                             "  val_images: .\n"
                             "  train_short_sides: [128]\n"
                             "  test_short_side: 128\n"
                             "  max_side: 128\n"
                             "  size_divisor: 32\n"
                             "  workers: 0\n"
                             "train:\n"
                          << train_section << "test: {batch_size: 4, score_thresh: 0.01}\n";
  }
  ~TinyDetector() { std::filesystem::remove_all(root); }
  // The config with `overrides` (key=value) applied.
  io::Json load(const std::vector<std::string>& overrides = {}) const {
    return engine::load_config(config.string(), overrides);
  }
  // A quiet run in root/<name>.
  engine::TrainOptions options(const std::string& name, bool resume = false) const {
    engine::TrainOptions o;
    o.work_dir = (root / name).string();
    o.resume = resume;
    o.quiet = true;
    return o;
  }
  TinyDetector(const TinyDetector&) = delete;
  TinyDetector& operator=(const TinyDetector&) = delete;
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The lines of a run's log.jsonl.
inline std::vector<io::Json> read_log(const std::filesystem::path& path) {
  std::vector<io::Json> lines;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(io::Json::parse(line, path.string()));
  return lines;
}

// The mean "loss" of log lines [begin, end).
inline double mean_loss(const std::vector<io::Json>& log, std::size_t begin, std::size_t end) {
  double sum = 0;
  for (std::size_t i = begin; i < end; ++i) sum += log[i].at("loss").as_double();
  return sum / static_cast<double>(end - begin);
}

}  // namespace ghm::testing
