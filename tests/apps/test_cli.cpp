// The command-line conventions of apps/cli.h across the commands: a bad option is a UsageError
// that names the command and the option, --help prints one layout and returns 0, and the config
// keys that size thread pools are bounded like --threads.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/check.h"
#include "engine/config.h"
#include "io/json.h"
#include "tests/scratch_dir.h"
#include "tests/test_paths.h"

using namespace ghm;

namespace {

using Run = std::function<int(const std::vector<std::string>&)>;

// The message of the UsageError that run(args) throws; the check fails when it throws none.
std::string usage_error(const Run& run, const std::vector<std::string>& args) {
  std::string message;
  CHECK_THROWS_AS(
      [&] {
        try {
          run(args);
        } catch (const app::UsageError& e) {
          message = e.what();
          throw;
        }
      }(),
      app::UsageError);
  return message;
}

// What run(args) prints to stdout, and its exit code.
struct Printed {
  int code = -1;
  std::string text;
};

Printed capture_stdout(const Run& run, const std::vector<std::string>& args) {
  testing::ScratchDir dir("cli_stdout");
  const std::string path = dir.file("stdout.txt");
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(saved >= 0);
  REQUIRE(file >= 0);
  ::dup2(file, STDOUT_FILENO);
  ::close(file);
  Printed p;
  try {
    p.code = run(args);
  } catch (...) {
    std::fflush(stdout);
    ::dup2(saved, STDOUT_FILENO);
    ::close(saved);
    throw;
  }
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  p.text = ss.str();
  return p;
}

std::string shapes_config() { return ::ghm::testing::source_dir() + "/configs/shapes_ghm.yaml"; }

}  // namespace

TEST_CASE("cli: thread counts are 1 .. 4 x the cores, and a non-number is named") {
  const std::string cores = std::to_string(engine::max_thread_count() / 4);
  for (const std::string bad : {"abc", "0", "-1", "100000", "1.5", ""}) {
    INFO(bad);
    const std::string m = usage_error(app::run_bench, {"loss", "--threads", bad});
    CHECK(m.find("bench loss: --threads") != std::string::npos);
    CHECK(m.find("(at most 4 x the " + cores + " cores)") != std::string::npos);
  }
  CHECK(usage_error(app::run_bench, {"loss", "--threads", "1,0"}).find("got 0") != std::string::npos);
  CHECK(usage_error(app::run_bench, {"train", "--threads", "100000"}).find("bench train: --threads") !=
        std::string::npos);
  CHECK(usage_error(app::run_bench, {"ops", "--threads", "0"}).find("bench ops: --threads") != std::string::npos);
  CHECK(usage_error(app::run_bench, {"loader", "--json", "a.json", "--images", "d", "--workers", "1,100000"})
            .find("bench loader: --workers") != std::string::npos);
}

TEST_CASE("cli: comma lists and repeated options add values") {
  testing::ScratchDir dir("cli_lists");
  const std::string json = dir.file("loss.json");
  REQUIRE(app::run_bench({"loss", "--threads", "1,2", "--size", "300", "--size", "200", "--warmup", "0", "--repeats",
                          "1", "--json", json}) == 0);
  std::ifstream in(json);
  std::stringstream text;
  text << in.rdbuf();
  const io::Json rows = io::Json::parse(text.str(), json).at("rows");
  REQUIRE(rows.as_array().size() == 16);  // 2 sizes x 2 thread counts x 4 losses
  CHECK(rows.at(0).at("n").as_int() == 300);
  CHECK(rows.at(0).at("threads").as_int() == 1);
  CHECK(rows.at(4).at("threads").as_int() == 2);
  CHECK(rows.at(8).at("n").as_int() == 200);
}

TEST_CASE("cli: numbers out of range or malformed name the option") {
  const std::string bins = usage_error(app::run_loss, {"--kind", "ghmc", "--in", "a", "--out", "b", "--bins", "-5"});
  CHECK(bins.find("loss: --bins: must be in 1..") != std::string::npos);
  CHECK(bins.find("got -5") != std::string::npos);
  CHECK(usage_error(app::run_loss, {"--kind", "ghmc", "--in", "a", "--out", "b", "--momentum", "nan"})
            .find("loss: --momentum: 'nan' is not a finite number") != std::string::npos);
  CHECK(usage_error(app::run_loss, {"--kind", "hinge", "--in", "a", "--out", "b"}).find("loss: --kind") !=
        std::string::npos);
  CHECK(usage_error(app::run_detect, {"--config", "c", "--checkpoint", "k", "--out", "o", "--score-thresh", "2", "x"})
            .find("detect: --score-thresh: must be in [0, 1], got 2") != std::string::npos);
  CHECK(usage_error(app::run_make_shapes, {"--out", "x", "--seed", "-1"}).find("make-shapes: --seed") !=
        std::string::npos);
  CHECK(usage_error(app::run_bench, {"train", "--size", "64x"}).find("bench train: --size: must be HxW") !=
        std::string::npos);
  CHECK(usage_error(app::run_bench, {"ops", "--size", "0x64"}).find("bench ops: --size") != std::string::npos);
  CHECK(usage_error(app::run_train, {"--config", "c.yaml", "--set", "train.lr"})
            .find("train: --set: expects key=value") != std::string::npos);
  CHECK(usage_error(app::run_eval, {"--config", "c", "--checkpoint", "k", "--device", "gpu"})
            .find("eval: --device: device 'gpu' must be cpu, cuda or cuda:I") != std::string::npos);
}

TEST_CASE("cli: an option followed by another option lacks its value") {
  const std::string m = usage_error(app::run_coco_eval, {"--gt", "--dt", "x.json"});
  CHECK(m.find("coco-eval: --gt: needs a value, got the option '--dt'") != std::string::npos);
  CHECK(usage_error(app::run_plot, {"--log"}).find("plot: --log") != std::string::npos);
}

TEST_CASE("cli: unknown options, missing required options and suites") {
  CHECK(usage_error(app::run_train, {"--config", "c.yaml", "--frobnicate"}).find("train: ") != std::string::npos);
  CHECK(usage_error(app::run_train, {"--config", "c.yaml", "--frobnicate"}).find("--frobnicate") != std::string::npos);
  CHECK(usage_error(app::run_coco_eval, {"--gt", "a.json"}).find("coco-eval: --dt is required") != std::string::npos);
  CHECK(usage_error(app::run_forward, {"--config", "c"}).find("forward: --weights is required") != std::string::npos);
  CHECK(usage_error(app::run_detect, {"--config", "c", "--checkpoint", "k", "--out", "o"}).find("inputs") !=
        std::string::npos);
  CHECK(usage_error(app::run_bench, {"coco-load"}).find("bench coco-load: --json is required") != std::string::npos);
  CHECK(usage_error(app::run_bench, {}).find("bench: name a suite") != std::string::npos);
  CHECK(usage_error(app::run_bench, {"frobnicate"}).find("frobnicate") != std::string::npos);
  CHECK(usage_error(app::run_bench, {"loader", "--json", "a.json", "--images", "d", "--short-side", "900",
                                     "--max-side", "800"})
            .find("--short-side 900 is larger than --max-side 800") != std::string::npos);
}

TEST_CASE("cli: --help of every command returns 0 and prints the same layout") {
  const std::vector<std::pair<std::string, Run>> commands = {
      {"analyze-gradients", app::run_analyze_gradients}, {"coco-eval", app::run_coco_eval},
      {"detect", app::run_detect}, {"eval", app::run_eval}, {"forward", app::run_forward},
      {"loss", app::run_loss}, {"make-shapes", app::run_make_shapes}, {"plot", app::run_plot},
      {"train", app::run_train}, {"bench", app::run_bench}};
  for (const auto& [name, run] : commands) {
    INFO(name);
    const Printed p = capture_stdout(run, {"--help"});
    CHECK(p.code == 0);
    CHECK(p.text.find("Usage: ghm_retinanet " + name + " [OPTIONS]") != std::string::npos);
    CHECK(p.text.find("\nOptions:\n  -h,--help") != std::string::npos);
  }
  for (const std::string suite : {"ops", "loss", "coco-load", "loader", "train", "elementwise"}) {
    INFO(suite);
    const Printed p = capture_stdout(app::run_bench, {suite, "-h"});
    CHECK(p.code == 0);
    CHECK(p.text.find("Usage: ghm_retinanet bench " + suite + " [OPTIONS]") != std::string::npos);
    CHECK(p.text.find("\nOptions:\n  -h,--help") != std::string::npos);
  }
  // Defaults are shown where they are declared.
  const Printed loss = capture_stdout(app::run_bench, {"loss", "--help"});
  CHECK(loss.text.find("--repeats INT:1..1000000=5") != std::string::npos);
}

TEST_CASE("cli: train.threads and data.workers are bounded by 4 x the cores, naming the key") {
  const std::string too_many = std::to_string(engine::max_thread_count() + 1);
  const std::string threads_error = "train.threads: " + too_many + " compute threads is more than 4 x the cores";
  const std::string workers_error = "data.workers: " + too_many + " loader threads is more than 4 x the cores";
  CHECK_THROWS_WITH_AS(engine::train_config(engine::load_config(shapes_config(), {"train.threads=" + too_many})),
                       doctest::Contains(threads_error.c_str()), Error);
  CHECK_THROWS_WITH_AS(engine::data_config(engine::load_config(shapes_config(), {"data.workers=" + too_many})),
                       doctest::Contains(workers_error.c_str()), Error);
  CHECK_THROWS_WITH_AS(engine::train_config(engine::load_config(shapes_config(), {"train.threads=-1"})),
                       doctest::Contains("train.threads"), Error);
  const std::string most = std::to_string(engine::max_thread_count());
  CHECK(engine::train_config(engine::load_config(shapes_config(), {"train.threads=0"})).threads == 0);  // all cores
  CHECK(engine::train_config(engine::load_config(shapes_config(), {"train.threads=" + most})).threads ==
        engine::max_thread_count());
  CHECK(engine::data_config(engine::load_config(shapes_config(), {"data.workers=0"})).workers == 0);
}

TEST_CASE("config: keys that size memory are bounded, and the error names the key and the range") {
  struct Case {
    std::string set, key;
  };
  const Case data_cases[] = {{"data.train_short_sides=[800, 100000]", "data.train_short_sides[1]: train_short_sides 100000 is outside [1, 8192]"},
                             {"data.test_short_side=0", "data.test_short_side: test_short_side 0 is outside [1, 8192]"},
                             {"data.max_side=1000000000", "data.max_side: max_side 1000000000 is outside [1, 8192]"},
                             {"data.size_divisor=4096", "data.size_divisor: size_divisor 4096"},
                             {"data.prefetch=100000", "data.prefetch: prefetch 100000"}};
  for (const Case& c : data_cases) {
    CAPTURE(c.set);
    CHECK_THROWS_WITH_AS(engine::data_config(engine::load_config(shapes_config(), {c.set})),
                         doctest::Contains(c.key.c_str()), Error);
  }
  CHECK_THROWS_WITH_AS(engine::train_config(engine::load_config(shapes_config(), {"train.batch_size=100000"})),
                       doctest::Contains("train.batch_size: batch_size 100000 is outside [1, 1024]"), Error);
  CHECK_THROWS_WITH_AS(engine::test_config(engine::load_config(shapes_config(), {"test.batch_size=0"})),
                       doctest::Contains("test.batch_size"), Error);
  CHECK_THROWS_WITH_AS(engine::retinanet_config(engine::load_config(shapes_config(), {"model.fpn.width=1000000"})),
                       doctest::Contains("model.fpn.width: width 1000000 is outside [1, 4096]"), Error);
  CHECK_THROWS_WITH_AS(
      engine::retinanet_config(engine::load_config(shapes_config(), {"model.head.num_classes=1000000000"})),
      doctest::Contains("model.head.num_classes"), Error);
  // The edges are accepted.
  const engine::DataConfig edge = engine::data_config(
      engine::load_config(shapes_config(), {"data.train_short_sides=[1, 8192]", "data.max_side=8192"}));
  CHECK(edge.train_short_sides == std::vector<int>{1, 8192});
  CHECK(edge.max_side == 8192);
}
