// The source-tree rules of source_tree.h: the layer table, include and link scanning, and the
// function-length measure.
#include "layout/source_tree.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace ghm::testing {

const std::map<std::string, std::set<std::string>>& allowed_layers() {
  static const std::map<std::string, std::set<std::string>> table = {
      {"core", {"core"}},
      {"io", {"io", "core"}},
      {"dist", {"dist", "core"}},
      {"nn", {"nn", "core"}},
      {"losses", {"losses", "core"}},
      {"coco", {"coco", "io", "core"}},
      {"fuzz", {"fuzz", "coco", "io", "core"}},
      {"detection", {"detection", "nn", "losses", "core"}},
      {"engine", {"engine", "detection", "coco", "nn", "losses", "dist", "io", "core"}},
      {"bench", {"bench", "engine", "detection", "coco", "nn", "losses", "dist", "io", "core"}},
      {"apps", {"apps", "bench", "engine", "detection", "coco", "nn", "losses", "dist", "io", "core"}},
  };
  return table;
}

std::string layer_of(const std::string& relative_path) {
  const std::string first = relative_path.substr(0, relative_path.find('/'));
  if (first.size() == relative_path.size()) return "";  // a file at the root
  return allowed_layers().contains(first) ? first : "";
}

std::vector<std::string> layer_includes(const std::string& source_text) {
  static const std::regex include_line(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<std::string> out;
  std::istringstream in(source_text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, include_line) && !layer_of(m[1].str()).empty()) out.push_back(m[1].str());
  }
  return out;
}

std::map<std::string, std::set<std::string>> ghm_link_edges(const std::string& cmake_text) {
  // target_link_libraries(<target> <items>...) may span lines; comments start with '#'.
  std::string text;
  std::istringstream in(cmake_text);
  for (std::string line; std::getline(in, line);) text += line.substr(0, line.find('#')) + '\n';
  static const std::regex call(R"(target_link_libraries\s*\(([^)]*)\))");
  static const std::regex word(R"([A-Za-z0-9_:]+)");
  std::map<std::string, std::set<std::string>> edges;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), call); it != std::sregex_iterator(); ++it) {
    const std::string args = (*it)[1].str();
    std::string target;
    for (auto w = std::sregex_iterator(args.begin(), args.end(), word); w != std::sregex_iterator(); ++w) {
      const std::string item = w->str();
      if (target.empty()) {
        target = item;
        edges[target];
      } else if (item.starts_with("ghm_")) {
        edges[target].insert(item);
      }
    }
  }
  return edges;
}

std::string layer_of_library(const std::string& library) {
  if (library == "ghm_retinanet") return "apps";
  if (library.starts_with("ghm_fuzz_")) return "fuzz";  // the libFuzzer binaries, ghm_fuzz_<target>
  if (!library.starts_with("ghm_")) return "";
  const std::string name = library.substr(4);
  return allowed_layers().contains(name) ? name : "";
}

namespace {

bool opens_function(const std::string& line) {
  if (line.empty() || std::isspace(static_cast<unsigned char>(line[0])) || line.back() != '{') return false;
  static const std::regex not_function(R"(^(namespace|struct|class|enum|union|extern|#|//)|^template\s*<.*>\s*(struct|class)\b)");
  return !std::regex_search(line, not_function);
}

// The comment block that ends right above line `index` (template lines skipped) mentions "long".
bool explained_as_long(const std::vector<std::string>& lines, std::size_t index) {
  std::size_t k = index;
  while (k > 0 && lines[k - 1].starts_with("template")) --k;
  static const std::regex long_word(R"(\blong\b)", std::regex::icase);
  bool found = false;
  while (k > 0) {
    const std::string& above = lines[k - 1];
    const std::size_t start = above.find_first_not_of(" \t");
    if (start == std::string::npos || above.compare(start, 2, "//") != 0) break;
    found = found || std::regex_search(above, long_word);
    --k;
  }
  return found;
}

}  // namespace

std::vector<LongFunction> long_functions(const std::string& source_text) {
  std::vector<std::string> lines;
  std::istringstream in(source_text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<LongFunction> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!opens_function(lines[i])) continue;
    std::size_t j = i + 1;
    while (j < lines.size() && lines[j] != "}" && !lines[j].starts_with("});")) ++j;
    const std::size_t length = j - i + 1;
    if (length > kMaxFunctionLines) out.push_back({i + 1, length, explained_as_long(lines, i), lines[i]});
    i = j;
  }
  return out;
}

std::vector<std::string> source_files(const std::string& repository_root) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::vector<std::string> roots;
  for (const auto& [layer, allowed] : allowed_layers()) roots.push_back(layer);
  roots.push_back("tests");
  for (const std::string& root : roots) {
    const fs::path dir = fs::path(repository_root) / root;
    if (!fs::is_directory(dir)) continue;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
      const std::string name = it->path().filename().string();
      if (it->is_directory() && (name == "data" || name.starts_with("build"))) {
        it.disable_recursion_pending();
        continue;
      }
      const std::string ext = it->path().extension().string();
      if (it->is_regular_file() && (ext == ".h" || ext == ".cpp" || ext == ".cu" || ext == ".cuh"))
        out.push_back(fs::relative(it->path(), repository_root).generic_string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ghm::testing
