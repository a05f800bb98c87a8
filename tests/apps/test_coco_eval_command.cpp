// `ghm_retinanet coco-eval`: options, the --json file, and errors naming the file. The numbers
// themselves are checked against pycocotools in tests/detection/test_coco_eval.cpp; here the
// command must write the same ones (parsed back from its JSON, which keeps every digit).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/check.h"
#include "io/json.h"
#include "tests/scratch_dir.h"
#include "tests/test_paths.h"

using namespace ghm;

namespace {

constexpr double kTolerance = 1e-6;  // the evaluator's contract with pycocotools

io::Json read_json(const std::string& path) { return io::Json::parse(testing::read_file(path), path); }

std::string fixture(const std::string& name) { return ::ghm::testing::test_data_dir() + "/cocoeval_" + name; }

}  // namespace

TEST_CASE("coco-eval command: writes pycocotools' stats and per-class APs to --json") {
  const auto tmp = std::filesystem::temp_directory_path() / ("ghm_coco_eval_cmd_" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  const std::string out = (tmp / "stats.json").string();
  REQUIRE(app::run_coco_eval({"--gt", fixture("edge.gt.json"), "--dt", fixture("edge.dt.json"), "--json", out,
                              "--per-class"}) == 0);
  const io::Json ours = read_json(out), ref = read_json(fixture("edge.stats.json"));
  REQUIRE(ours.at("stats").size() == 12);
  for (std::size_t i = 0; i < 12; ++i)
    CHECK(std::abs(ours.at("stats").at(i).as_double() - ref.at("stats").at(i).as_double()) <= kTolerance);
  REQUIRE(ours.at("ap_per_iou").size() == 10);  // AP50 and AP75 are two of them
  CHECK(ours.at("ap_per_iou").at(0).as_double() == ours.at("stats").at(1).as_double());
  CHECK(ours.at("ap_per_iou").at(5).as_double() == ours.at("stats").at(2).as_double());
  REQUIRE(ours.at("per_class").size() == ref.at("per_class").size());
  for (const auto& member : ref.at("per_class").as_object()) {
    const std::string& id = member.first;
    const io::Json& entry = member.second;
    CAPTURE(id);
    CHECK(ours.at("per_class").at(id).at("name").as_string() == entry.at("name").as_string());
    CHECK(std::abs(ours.at("per_class").at(id).at("ap").as_double() - entry.at("ap").as_double()) <= kTolerance);
  }

  REQUIRE(app::run_coco_eval({"--dt", fixture("crowd.dt.json"), "--gt", fixture("crowd.gt.json"), "--json", out}) == 0);
  CHECK_FALSE(read_json(out).contains("per_class"));
  std::filesystem::remove_all(tmp);
}

TEST_CASE("coco-eval command: usage errors and unreadable files") {
  CHECK(app::run_coco_eval({"--help"}) == 0);
  CHECK_THROWS_AS(app::run_coco_eval({}), app::UsageError);
  CHECK_THROWS_AS(app::run_coco_eval({"--gt", fixture("edge.gt.json")}), app::UsageError);
  CHECK_THROWS_AS(app::run_coco_eval({"--gt", fixture("edge.gt.json"), "--dt"}), app::UsageError);
  CHECK_THROWS_AS(app::run_coco_eval({"--gt", "a", "--dt", "b", "--iou", "0.5"}), app::UsageError);
  CHECK_THROWS_WITH_AS(app::run_coco_eval({"--gt", "/nonexistent/gt.json", "--dt", fixture("edge.dt.json")}),
                       doctest::Contains("'/nonexistent/gt.json'"), Error);
  CHECK_THROWS_WITH_AS(app::run_coco_eval({"--gt", fixture("edge.gt.json"), "--dt", fixture("edge.gt.json")}),
                       doctest::Contains("cocoeval_edge.gt.json: a COCO results file is a JSON array"), Error);
  CHECK_THROWS_WITH_AS(app::run_coco_eval({"--gt", fixture("edge.gt.json"), "--dt", fixture("edge.dt.json"), "--json",
                                           "/nonexistent/dir/out.json"}),
                       doctest::Contains("cannot write '/nonexistent/dir/out.json'"), Error);
}
