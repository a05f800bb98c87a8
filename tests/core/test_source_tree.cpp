// The source tree at run time (core/source_tree.h): $GHM_SOURCE_DIR first when it holds the file,
// the built-from tree otherwise, and an error naming both when neither does; a relative default
// file found from the working directory is kept as given. The choice is checked between scratch
// trees, so that it holds wherever the build folder is.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "core/check.h"
#include "core/source_tree.h"
#include "scratch_dir.h"

using namespace ghm;

namespace {

// Sets GHM_SOURCE_DIR for one test and puts back what was there.
class SourceDirEnv {
 public:
  explicit SourceDirEnv(const std::string& value) {
    if (const char* old = std::getenv("GHM_SOURCE_DIR")) old_ = old;
    ::setenv("GHM_SOURCE_DIR", value.c_str(), 1);
  }
  ~SourceDirEnv() {
    if (old_) ::setenv("GHM_SOURCE_DIR", old_->c_str(), 1);
    else ::unsetenv("GHM_SOURCE_DIR");
  }
  SourceDirEnv(const SourceDirEnv&) = delete;
  SourceDirEnv& operator=(const SourceDirEnv&) = delete;

 private:
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("source tree: $GHM_SOURCE_DIR comes first when it holds the file") {
  const testing::ScratchDir tree("source_tree");
  std::filesystem::create_directories(tree.path() / "configs");
  tree.write("configs/retinanet_r50_fpn_torchvision.yaml", "model: {}\n");
  const SourceDirEnv env(tree.path().string());
  CHECK(source_tree_root("configs/retinanet_r50_fpn_torchvision.yaml") == tree.path().string());
  CHECK(find_in_source_tree("configs/retinanet_r50_fpn_torchvision.yaml") ==
        tree.path().string() + "/configs/retinanet_r50_fpn_torchvision.yaml");
}

TEST_CASE("source tree: without the file under $GHM_SOURCE_DIR the built-from tree is used") {
  const testing::ScratchDir env_tree("source_tree_env"), built_from("source_tree_built");
  built_from.write("marker.txt", "x\n");
  CHECK(pick_source_tree_root("marker.txt", env_tree.path().string(), built_from.path().string()) ==
        built_from.path().string());
  CHECK(pick_source_tree_root("marker.txt", "", built_from.path().string()) == built_from.path().string());
  env_tree.write("marker.txt", "x\n");
  CHECK(pick_source_tree_root("marker.txt", env_tree.path().string(), built_from.path().string()) ==
        env_tree.path().string());
}

TEST_CASE("source tree: a file in neither tree is an error naming the file and both trees") {
  const testing::ScratchDir env_tree("source_tree_env"), built_from("source_tree_built");
  try {
    (void)pick_source_tree_root("configs/no_such_file.yaml", env_tree.path().string(), built_from.path().string());
    FAIL("no error for a missing file");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("configs/no_such_file.yaml") != std::string::npos);
    CHECK(what.find(env_tree.path().string()) != std::string::npos);
    CHECK(what.find(built_from.path().string()) != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(pick_source_tree_root("x", "", built_from.path().string()),
                       doctest::Contains("$GHM_SOURCE_DIR (not set)"), Error);
}

TEST_CASE("source tree: a default file is kept as given when it exists or is absolute") {
  const testing::ScratchDir tree("source_tree_resolve");
  const std::string absolute = tree.write("shapes.txt", "x\n");
  CHECK(resolve_source_file(absolute) == absolute);
  const SourceDirEnv env(tree.path().string());
  CHECK(resolve_source_file("shapes.txt") == tree.path().string() + "/shapes.txt");  // not in the working directory
}
