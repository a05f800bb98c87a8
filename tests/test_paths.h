// Where the tests find the source tree and its tests/data at run time (core/source_tree.h):
// $GHM_SOURCE_DIR, else the source directory they were built from, so that a build folder copied
// to another folder or machine still runs its tests (scripts/gpu_check.sh sets GHM_SOURCE_DIR to
// its checkout). When neither holds tests/data, the first use throws naming both.
#pragma once

#include <string>

#include "core/source_tree.h"

namespace ghm::testing {

// The source tree's root: the first of $GHM_SOURCE_DIR and the built-from directory with tests/data.
inline const std::string& source_dir() {
  static const std::string dir = source_tree_root("tests/data");
  return dir;
}

// source_dir() + "/tests/data": the fixtures written by tests/data/*.py.
inline const std::string& test_data_dir() {
  static const std::string dir = source_dir() + "/tests/data";
  return dir;
}

}  // namespace ghm::testing
