// Replays every committed fuzz input through its target (fuzz/targets.h), in every build (gcc,
// the sanitizer build) and without libFuzzer: the seed corpus (fuzz/corpus/<target>/), which
// must exist for every target, and each past finding (fuzz/regressions/<target>/), so a fixed
// crash stays fixed. An input passes when its target returns 0 with no exception escaping (a
// reader's ghm::Error is caught inside the target; anything else is a bug); a crash, a sanitizer
// report or a broken property aborts the test binary, naming the target's check.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "fuzz/targets.h"
#include "test_paths.h"

namespace ghm::fuzz {
namespace {

namespace fs = std::filesystem;

fs::path fuzz_dir() { return fs::path(testing::source_dir()) / "fuzz"; }

// The regular files directly in `dir`, sorted; none when it does not exist.
std::vector<fs::path> inputs_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs every file of `dir` through `target`; returns how many there were.
std::size_t replay(const Target& target, const fs::path& dir) {
  const std::vector<fs::path> files = inputs_in(dir);
  for (const fs::path& file : files) {
    const std::vector<std::uint8_t> bytes = read_bytes(file);
    INFO(target.name, ": ", file.string(), " (", bytes.size(), " bytes)");
    int status = -1;
    CHECK_NOTHROW(status = target.run(bytes.data(), bytes.size()));
    CHECK(status == 0);
  }
  return files.size();
}

void check_target(std::string_view name) {
  const std::span<const Target> targets = all_targets();
  const auto found = std::find_if(targets.begin(), targets.end(), [&](const Target& t) { return t.name == name; });
  REQUIRE_MESSAGE(found != targets.end(), "no fuzz target named ", std::string(name));
  const Target& target = *found;
  const std::size_t seeds = replay(target, fuzz_dir() / "corpus" / std::string(name));
  CHECK_MESSAGE(seeds >= 3, "fuzz/corpus/", std::string(name), " has ", seeds, " inputs; a target needs a seed corpus");
  replay(target, fuzz_dir() / "regressions" / std::string(name));
}

}  // namespace

TEST_CASE("fuzz inputs: the target table names each target once, with a corpus folder") {
  std::vector<std::string> names;
  for (const Target& t : all_targets()) {
    names.emplace_back(t.name);
    CHECK(static_cast<bool>(t.run));
    CHECK_MESSAGE(fs::is_directory(fuzz_dir() / "corpus" / names.back()), "no fuzz/corpus/", names.back());
  }
  CHECK(names.size() == 6);
  std::sort(names.begin(), names.end());
  CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
  // Every folder of fuzz/regressions belongs to a target (a misspelt one would never be replayed).
  for (const char* kind : {"corpus", "regressions"}) {
    if (!fs::is_directory(fuzz_dir() / kind)) continue;
    for (const fs::directory_entry& entry : fs::directory_iterator(fuzz_dir() / kind)) {
      INFO("fuzz/", kind, "/", entry.path().filename().string());
      CHECK(std::binary_search(names.begin(), names.end(), entry.path().filename().string()));
    }
  }
}

TEST_CASE("fuzz inputs: json seeds and regressions") { check_target("json"); }
TEST_CASE("fuzz inputs: yaml seeds and regressions") { check_target("yaml"); }
TEST_CASE("fuzz inputs: safetensors seeds and regressions") { check_target("safetensors"); }
TEST_CASE("fuzz inputs: coco_instances seeds and regressions") { check_target("coco_instances"); }
TEST_CASE("fuzz inputs: coco_results seeds and regressions") { check_target("coco_results"); }
TEST_CASE("fuzz inputs: image seeds and regressions") { check_target("image"); }

}  // namespace ghm::fuzz
