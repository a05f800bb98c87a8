// The rules of the source tree, as code the layout tests apply to the repository
// (docs/architecture.md explains them):
//
//   layers, each a folder and a static library; a layer may use only itself and what is below it
//
//     apps      main + one thin file per command              ghm_apps, ghm_retinanet
//     bench     the C++ side of the benchmarks                ghm_bench
//     engine    config, trainer, inference, checkpoints       ghm_engine
//     detection shared detector parts; retinanet/             ghm_detection
//     fuzz      fuzz targets over the io and coco readers     ghm_fuzz, ghm_fuzz_<target>
//     coco      COCO readers and the evaluator                ghm_coco
//     losses    GHM-C, GHM-R, baselines                       ghm_losses
//     nn        modules, backbones, FPN, optimiser            ghm_nn
//     io        JSON, YAML, safetensors, images, loader       ghm_io
//     core      tensors, autograd, CPU and CUDA ops           ghm_core
//
//   "below" is not a total order: detection uses nn and losses but not io or coco; coco uses io.
//   The allowed edges are listed once, in allowed_layers(); tests/ may use every layer.
//
//   sizes: a source file has at most kMaxFileLines lines; a function body longer than
//   kMaxFunctionLines lines needs a comment right above it that says why it is long (the word
//   "long" in that comment block).
//
// Functions are found the way this tree is formatted (clang-format, namespaces not indented): a
// line that starts in column 0 and ends with '{' and is not a namespace, class, struct, enum or
// union opens a function, and the next line that is exactly "}" closes it. Member functions
// written inside a class body are not measured.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ghm::testing {

inline constexpr std::size_t kMaxFileLines = 600;
inline constexpr std::size_t kMaxFunctionLines = 80;

// Layer -> the layers its sources may include and its library may link (itself included).
const std::map<std::string, std::set<std::string>>& allowed_layers();

// The layer a repository-relative path belongs to ("detection/retinanet/model.h" -> "detection"),
// or "" for a path outside the layers (tests/, tools/, ...).
std::string layer_of(const std::string& relative_path);

// The layer-qualified headers a source includes: every `#include "layer/..."` whose first path
// component is a layer, as "layer/..." strings.
std::vector<std::string> layer_includes(const std::string& source_text);

// The ghm_* libraries that a CMakeLists.txt links each of its targets to:
// target -> linked ghm_* names (PUBLIC, PRIVATE and INTERFACE alike).
std::map<std::string, std::set<std::string>> ghm_link_edges(const std::string& cmake_text);

// The layer of a library name ("ghm_detection" -> "detection", "ghm_retinanet" -> "apps"),
// or "" for a name that is not a layer's library (ghm_compile_options).
std::string layer_of_library(const std::string& library);

struct LongFunction {
  std::size_t first_line = 0;  // 1-based line of the opening line
  std::size_t lines = 0;       // from the opening line to the closing brace, both included
  bool explained = false;      // a comment block right above it says why it is long
  std::string signature;       // the opening line
};

// Every function of the source longer than kMaxFunctionLines lines.
std::vector<LongFunction> long_functions(const std::string& source_text);

// The repository's source files (.h, .cpp, .cu, .cuh) under the layer folders and tests/, as
// repository-relative paths, sorted; build folders and test data are skipped.
std::vector<std::string> source_files(const std::string& repository_root);

std::string read_text(const std::string& path);

}  // namespace ghm::testing
