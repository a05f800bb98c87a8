// The op table against the sources (see op_table.h for why the ops are read from the sources): an
// op without an entry, or an entry without an op, fails here, on every build. (An entry that the
// finite differences never reach fails in test_op_gradients.cpp.)
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "op_table.h"
#include "test_paths.h"

using namespace ghm::testing;

namespace {

namespace fs = std::filesystem;

// Ops that are deliberately not in the table, with the reason.
const std::map<std::string, std::string> kExempt = {
    {"to_device", "the transfer between devices that every CUDA comparison is made of; its values and its "
                  "gradient across devices are tested in tests/cuda/test_cuda_tensor.cpp"},
};

std::string read_without_comments(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, "cannot read ", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return std::regex_replace(text.str(), std::regex("//[^\n]*"), "");
}

std::vector<fs::path> files_under(const fs::path& dir, bool recursive, const std::set<std::string>& extensions) {
  std::vector<fs::path> out;
  const auto consider = [&](const fs::directory_entry& e) {
    if (e.is_regular_file() && extensions.count(e.path().extension().string())) out.push_back(e.path());
  };
  if (recursive) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) consider(e);
  } else {
    for (const auto& e : fs::directory_iterator(dir)) consider(e);
  }
  return out;
}

// Functions declared (not defined) at the start of a line in core/ops/*.h with a tensor among
// their parameters: the public op API.
std::set<std::string> declared_ops(const fs::path& root) {
  std::set<std::string> out;
  const std::regex declaration(R"((?:^|\n)[A-Za-z_][\w:<>]*(?:[ \t]+[A-Za-z_][\w:<>&*]*)*[ \t]+(\w+)\(([^()]*)\);)");
  for (const fs::path& header : files_under(root / "core" / "ops", false, {".h"})) {
    const std::string text = read_without_comments(header);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), declaration); it != std::sregex_iterator(); ++it)
      if ((*it)[2].str().find("Tensor") != std::string::npos) out.insert((*it)[1].str());
  }
  return out;
}

// Every op name given to record_op as a literal anywhere in core/ (the ops with a backward): the
// string literals in its second argument (`relu ? "conv2d_relu" : "conv2d"` names two).
std::set<std::string> recorded_ops(const fs::path& root) {
  std::set<std::string> out;
  const std::regex call(R"(record_op\(\s*\w+\s*,([^,]*),)"), literal(R"re("(\w+)")re");
  for (const fs::path& file : files_under(root / "core", true, {".cpp", ".h"})) {
    const std::string text = read_without_comments(file);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), call); it != std::sregex_iterator(); ++it) {
      const std::string name_argument = (*it)[1].str();
      for (auto lit = std::sregex_iterator(name_argument.begin(), name_argument.end(), literal);
           lit != std::sregex_iterator(); ++lit)
        out.insert((*lit)[1].str());
    }
  }
  return out;
}

std::set<std::string> table_ops() {
  std::set<std::string> out;
  for (const OpEntry& e : op_table()) out.insert(e.op);
  return out;
}

}  // namespace

TEST_CASE("op table: every op in core/ops and every op with a backward has an entry") {
  const fs::path root = ::ghm::testing::source_dir();
  const std::set<std::string> declared = declared_ops(root), recorded = recorded_ops(root), table = table_ops();
  // The scans themselves: a broken pattern or path would find nothing and pass.
  for (const char* known : {"conv2d", "batch_norm", "gather", "sum", "broadcast_to", "frozen_batch_norm_affine"})
    CHECK_MESSAGE(declared.count(known), "the scan of core/ops/*.h missed ", std::string(known));
  for (const char* known : {"conv2d", "conv2d_relu", "reshape", "clone", "to_device", "add_relu"})
    CHECK_MESSAGE(recorded.count(known), "the scan of record_op calls missed ", std::string(known));

  std::set<std::string> ops = declared;
  ops.insert(recorded.begin(), recorded.end());
  for (const std::string& op : ops)
    CHECK_MESSAGE((table.count(op) || kExempt.count(op)), op,
                  " has no entry in the op table (tests/ops/op_table_*.cpp): register its cases there");
  for (const std::string& op : table)
    CHECK_MESSAGE(ops.count(op), "the op table has an entry for ", op, ", which core/ does not declare");
  for (const auto& [op, why] : kExempt) CHECK_MESSAGE(!table.count(op), op, " is exempted and in the table");
}

TEST_CASE("op table: one entry per op, each tolerance with its reason") {
  std::set<std::string> names;
  for (const OpEntry& e : op_table()) {
    CAPTURE(e.op);
    CHECK_MESSAGE(names.insert(e.op).second, "two entries for ", std::string(e.op));
    for (const Tolerance* t : {&e.forward, &e.backward, e.tf32 ? &*e.tf32 : nullptr})
      if (t != nullptr) CHECK(std::string(t->why).size() > 10);
  }
}
