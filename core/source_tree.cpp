// The source tree at run time: $GHM_SOURCE_DIR, else the directory compiled in as
// GHM_BUILD_SOURCE_DIR (core/CMakeLists.txt).
#include "core/source_tree.h"

#include <cstdlib>
#include <filesystem>

#include "core/check.h"

namespace ghm {

std::string pick_source_tree_root(const std::string& rel, const std::string& from_env, const std::string& built_from) {
  std::error_code ec;
  if (!from_env.empty() && std::filesystem::exists(std::filesystem::path(from_env) / rel, ec)) return from_env;
  if (std::filesystem::exists(std::filesystem::path(built_from) / rel, ec)) return built_from;
  const std::string env_text = from_env.empty() ? std::string("not set") : "'" + from_env + "'";
  GHM_FAIL("'", rel, "' is in neither source tree: $GHM_SOURCE_DIR (", env_text,
           ") nor the one this program was built from ('", built_from,
           "'); set GHM_SOURCE_DIR to a checkout of the sources");
}

std::string source_tree_root(const std::string& rel) {
  const char* env = std::getenv("GHM_SOURCE_DIR");
  return pick_source_tree_root(rel, env != nullptr ? env : "", GHM_BUILD_SOURCE_DIR);
}

std::string find_in_source_tree(const std::string& rel) { return source_tree_root(rel) + "/" + rel; }

std::string resolve_source_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::path(path).is_absolute() || std::filesystem::exists(path, ec)) return path;
  return find_in_source_tree(path);
}

}  // namespace ghm
