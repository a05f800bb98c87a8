// The source tree keeps its rules (tests/layout/source_tree.h, docs/architecture.md): includes and
// library links point down the layers only, files stay small, long functions say why. First the
// rules are checked on small made-up inputs, so that a test below cannot pass by finding nothing;
// then they are applied to every source file of the repository.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "layout/source_tree.h"
#include "test_paths.h"

namespace ghm::testing {
namespace {

std::string numbered_lines(std::size_t n) {
  std::string text;
  for (std::size_t i = 0; i < n; ++i) text += "  x += " + std::to_string(i) + ";\n";
  return text;
}

}  // namespace

TEST_CASE("layout: the rules themselves, on made-up sources") {
  CHECK(layer_of("detection/retinanet/model.h") == "detection");
  CHECK(layer_of("tests/core/test_tensor.cpp").empty());
  CHECK(layer_of("README.md").empty());
  CHECK(layer_includes("#include \"engine/trainer.h\"\n#include <vector>\n  #  include \"scratch_dir.h\"\n"
                       "#include \"core/tensor.h\"  // tensors\n") ==
        std::vector<std::string>{"engine/trainer.h", "core/tensor.h"});
  CHECK_FALSE(allowed_layers().at("detection").contains("engine"));
  CHECK_FALSE(allowed_layers().at("detection").contains("io"));
  CHECK(allowed_layers().at("engine").contains("coco"));

  const auto edges = ghm_link_edges(
      "add_library(ghm_x STATIC a.cpp)\n# target_link_libraries(ghm_x PUBLIC ghm_apps)\n"
      "target_link_libraries(ghm_x PUBLIC ghm_nn\n   ghm_core PRIVATE ghm_compile_options CUDA::cudart)\n");
  REQUIRE(edges.size() == 1);
  CHECK(edges.at("ghm_x") == std::set<std::string>{"ghm_nn", "ghm_core", "ghm_compile_options"});
  CHECK(layer_of_library("ghm_retinanet") == "apps");
  CHECK(layer_of_library("ghm_compile_options").empty());

  const std::string short_fn = "int f() {\n" + numbered_lines(10) + "}\n";
  const std::string long_fn = "int g(int x) {\n" + numbered_lines(kMaxFunctionLines) + "}\n";
  const std::string explained = "// Long because the table below is one list.\nint h(int x) {\n" +
                                numbered_lines(kMaxFunctionLines) + "}\n";
  const std::string in_namespace = "namespace a {\nstruct S {\n" + numbered_lines(100) + "};\n}  // namespace a\n";
  CHECK(long_functions(short_fn + in_namespace).empty());
  const auto found = long_functions(short_fn + long_fn + explained);
  REQUIRE(found.size() == 2);
  CHECK(found[0].signature == "int g(int x) {");
  CHECK(found[0].first_line == 13);
  CHECK(found[0].lines == kMaxFunctionLines + 2);
  CHECK_FALSE(found[0].explained);
  CHECK(found[1].explained);
}

TEST_CASE("layout: every include points down the layers") {
  const std::vector<std::string> files = source_files(source_dir());
  REQUIRE(files.size() > 100);  // the tree was found
  int checked = 0;
  for (const std::string& file : files) {
    const std::string layer = layer_of(file);
    if (layer.empty()) continue;
    const auto& allowed = allowed_layers().at(layer);
    for (const std::string& header : layer_includes(read_text(source_dir() + "/" + file))) {
      ++checked;
      INFO(file, " includes ", header);
      CHECK(allowed.contains(layer_of(header)));
    }
  }
  CHECK(checked > 300);
}

TEST_CASE("layout: every library links only the libraries of the layers below it") {
  int checked = 0;
  for (const auto& [layer, allowed] : allowed_layers()) {
    const auto edges = ghm_link_edges(read_text(source_dir() + "/" + layer + "/CMakeLists.txt"));
    for (const auto& [target, libraries] : edges) {
      INFO(layer, "/CMakeLists.txt: ", target);
      CHECK(layer_of_library(target) == layer);
      for (const std::string& library : libraries) {
        if (layer_of_library(library).empty()) continue;  // ghm_compile_options
        ++checked;
        INFO("links ", library);
        CHECK(allowed.contains(layer_of_library(library)));
      }
    }
  }
  CHECK(checked >= 15);
}

TEST_CASE("layout: files stay under the size limit and long functions say why") {
  for (const std::string& file : source_files(source_dir())) {
    const std::string text = read_text(source_dir() + "/" + file);
    const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    INFO(file, ": ", lines, " lines");
    CHECK(lines <= kMaxFileLines);
    for (const LongFunction& f : long_functions(text)) {
      INFO(file, ":", f.first_line, ": ", f.lines, " lines, without a comment above it saying why it is long: ",
           f.signature);
      CHECK(f.explained);
    }
  }
}

}  // namespace ghm::testing
