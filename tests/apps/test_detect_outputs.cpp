// Where `detect` writes (engine/detect_outputs.h): folder structure kept under --out, unique names
// for same-stem inputs, repeats done once, and an --out that holds an input refused before
// anything is written.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/check.h"
#include "engine/detect_outputs.h"
#include "engine/trainer.h"
#include "engine/config.h"
#include "scratch_dir.h"
#include "tiny_detector.h"

using namespace ghm;
namespace fs = std::filesystem;

namespace {

// Empty files with image names are enough for planning (nothing is decoded).
void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

// The plan as (input relative to root, stem relative to out) pairs.
std::vector<std::pair<std::string, std::string>> planned(const fs::path& root, const std::vector<std::string>& inputs,
                                                         const fs::path& out) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const engine::DetectOutput& o : engine::plan_detect_outputs(inputs, out.string()))
    rows.emplace_back(fs::path(o.input).lexically_relative(root).string(),
                      fs::path(o.stem).lexically_relative(out).string());
  return rows;
}

using Rows = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("detect outputs: one folder or one file writes stems straight under --out") {
  const testing::ScratchDir d("detect_plan");
  const fs::path r = d.path();
  touch(r / "imgs" / "b.png");
  touch(r / "imgs" / "a.jpg");
  touch(r / "imgs" / "notes.txt");
  CHECK(planned(r, {(r / "imgs").string()}, r / "out") == Rows{{"imgs/a.jpg", "a"}, {"imgs/b.png", "b"}});
  CHECK(planned(r, {(r / "imgs" / "b.png").string()}, r / "out") == Rows{{"imgs/b.png", "b"}});
}

TEST_CASE("detect outputs: same names in different folders keep their folders") {
  const testing::ScratchDir d("detect_plan");
  const fs::path r = d.path();
  touch(r / "x" / "a.jpg");
  touch(r / "y" / "deep" / "a.jpg");
  CHECK(planned(r, {(r / "x" / "a.jpg").string(), (r / "y" / "deep" / "a.jpg").string()}, r / "out") ==
        Rows{{"x/a.jpg", "x/a"}, {"y/deep/a.jpg", "y/deep/a"}});
  CHECK(planned(r, {(r / "x").string(), (r / "y" / "deep").string()}, r / "out") ==
        Rows{{"x/a.jpg", "x/a"}, {"y/deep/a.jpg", "y/deep/a"}});
}

TEST_CASE("detect outputs: one stem with two extensions keeps the extensions, a repeat is done once") {
  const testing::ScratchDir d("detect_plan");
  const fs::path r = d.path();
  touch(r / "imgs" / "a.jpg");
  touch(r / "imgs" / "a.png");
  touch(r / "imgs" / "c.bmp");
  fs::create_symlink(r / "imgs" / "c.bmp", r / "link.bmp");
  CHECK(planned(r, {(r / "imgs").string(), (r / "imgs" / "a.jpg").string(), (r / "link.bmp").string()}, r / "out") ==
        Rows{{"imgs/a.jpg", "a.jpg"}, {"imgs/a.png", "a.png"}, {"imgs/c.bmp", "c"}});
}

TEST_CASE("detect outputs: an output folder that holds an input is refused, one beside or below the inputs is not") {
  const testing::ScratchDir d("detect_plan");
  const fs::path r = d.path();
  touch(r / "imgs" / "a.jpg");
  CHECK_THROWS_WITH_AS(engine::plan_detect_outputs({(r / "imgs").string()}, (r / "imgs").string()),
                       doctest::Contains("holds the input"), Error);
  CHECK_THROWS_WITH_AS(engine::plan_detect_outputs({(r / "imgs" / "a.jpg").string()}, r.string()),
                       doctest::Contains("holds the input"), Error);
  // Through a link to the input folder, and with a trailing slash and a dot.
  fs::create_directory_symlink(r / "imgs", r / "alias");
  CHECK_THROWS_AS(engine::plan_detect_outputs({(r / "imgs" / "a.jpg").string()}, (r / "alias").string()), Error);
  CHECK_THROWS_AS(engine::plan_detect_outputs({(r / "imgs").string() + "/"}, (r / "imgs" / ".").string()), Error);
  // A sub-folder of the input folder is fine (folders are not read recursively).
  CHECK(planned(r, {(r / "imgs").string()}, r / "imgs" / "det") == Rows{{"imgs/a.jpg", "a"}});
  CHECK(planned(r, {(r / "imgs").string()}, r / "det") == Rows{{"imgs/a.jpg", "a"}});
}

TEST_CASE("detect outputs: missing inputs and folders without images are errors naming them") {
  const testing::ScratchDir d("detect_plan");
  const fs::path r = d.path();
  fs::create_directories(r / "empty");
  CHECK_THROWS_WITH_AS(engine::plan_detect_outputs({(r / "nope.jpg").string()}, (r / "out").string()),
                       doctest::Contains("nope.jpg: no such file"), Error);
  CHECK_THROWS_WITH_AS(engine::plan_detect_outputs({(r / "empty").string()}, (r / "out").string()),
                       doctest::Contains("no .jpg"), Error);
}

TEST_CASE("detect: two images with one name both get their outputs, and --out on the inputs leaves them as they were") {
  const testing::TinyDetector t("detect_outputs", "  batch_size: 4\n  epochs: 1\n  log_interval: 1\n");
  engine::TrainOptions o;
  o.work_dir = (t.root / "work").string();
  o.quiet = true;
  const engine::TrainOutcome run = engine::train_detector(engine::load_config(t.config.string(), {}), o);
  const fs::path a = t.root / "a", b = t.root / "b";
  fs::create_directories(a);
  fs::create_directories(b);
  fs::copy_file(t.data / "val" / "000001.jpg", a / "img.jpg");
  fs::copy_file(t.data / "val" / "000002.jpg", b / "img.jpg");
  const auto detect = [&](const fs::path& out, std::vector<std::string> inputs) {
    std::vector<std::string> args{"--config", t.config.string(), "--checkpoint", run.last_checkpoint, "--out",
                                  out.string()};
    args.insert(args.end(), inputs.begin(), inputs.end());
    return app::run_detect(args);
  };
  REQUIRE(detect(t.root / "det", {a.string(), b.string()}) == 0);
  for (const char* stem : {"a/img", "b/img"}) {
    CHECK(fs::exists(t.root / "det" / (std::string(stem) + ".json")));
    CHECK(fs::exists(t.root / "det" / (std::string(stem) + ".jpg")));
  }
  const auto before = fs::file_size(a / "img.jpg");
  const auto listing = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(a)) names.push_back(e.path().filename().string());
    return names;
  };
  CHECK_THROWS_WITH_AS(detect(a, {a.string()}), doctest::Contains("holds the input"), Error);
  CHECK(listing() == std::vector<std::string>{"img.jpg"});
  CHECK(fs::file_size(a / "img.jpg") == before);
}

TEST_CASE("detect outputs: links in the output folder to images elsewhere are refused, so no target is replaced") {
  const testing::ScratchDir d("detect_plan");
  const fs::path r = d.path();
  touch(r / "store" / "x.jpg");
  fs::create_directories(r / "sel");
  fs::create_symlink(r / "store" / "x.jpg", r / "sel" / "x.jpg");
  CHECK_THROWS_WITH_AS(engine::plan_detect_outputs({(r / "sel").string()}, (r / "sel").string()),
                       doctest::Contains("holds the input"), Error);
  // An output that is, through a link inside --out, one of the inputs.
  fs::create_directories(r / "out");
  fs::create_directory_symlink(r / "store", r / "out" / "store");
  touch(r / "other" / "a.jpg");
  CHECK_THROWS_WITH_AS(engine::plan_detect_outputs({(r / "store" / "x.jpg").string(), (r / "other" / "a.jpg").string()},
                                                   (r / "out").string()),
                       doctest::Contains("would replace an input image"), Error);
  // An --out that is a file, and no inputs at all.
  touch(r / "file.txt");
  CHECK_THROWS_WITH_AS(engine::plan_detect_outputs({(r / "store").string()}, (r / "file.txt").string()),
                       doctest::Contains("is not a folder"), Error);
  CHECK_THROWS_AS(engine::plan_detect_outputs({}, (r / "out").string()), Error);
}
