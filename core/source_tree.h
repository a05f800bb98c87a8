// Where the files of the source tree (configs/, bench/, tests/data/) are found at run time, so
// that a binary or a whole build folder moved to another folder or machine still finds them, and
// no help text carries the path of the machine it was built on. The roots, in order:
//
//   1. $GHM_SOURCE_DIR, when set (e.g. scripts/gpu_check.sh sets it to its own checkout)
//   2. the source directory the program was built from (compiled in)
//
// A root is taken when it holds the file asked for; when neither does, the error names both.
#pragma once

#include <string>

namespace ghm {

// The first root that holds `rel` (a path relative to the source tree, e.g. "tests/data").
// Throws ghm::Error naming `rel` and both roots when neither holds it.
std::string source_tree_root(const std::string& rel);

// The choice itself, between given roots (from_env "" when $GHM_SOURCE_DIR is not set).
std::string pick_source_tree_root(const std::string& rel, const std::string& from_env, const std::string& built_from);

// source_tree_root(rel) + "/" + rel.
std::string find_in_source_tree(const std::string& rel);

// `path` itself when it exists from the working directory or is absolute; otherwise, for a
// relative path, the file in the source tree (find_in_source_tree). For default file options.
std::string resolve_source_file(const std::string& path);

}  // namespace ghm
