#include "engine/work_dir.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "core/check.h"

namespace ghm::engine {
namespace {

// A temporary file of a run file ("<name>.tmp.<pid>", left behind by a killed run).
bool is_run_temp_file(const std::string& name, const std::function<bool(const std::string&)>& is_run_file) {
  const std::size_t tmp = name.rfind(".tmp.");
  if (tmp == std::string::npos || tmp + 5 == name.size()) return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(tmp + 5), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) &&
         is_run_file(name.substr(0, tmp));
}

}  // namespace

void claim_work_dir(const std::string& work_dir, bool resume, bool overwrite,
                    const std::function<bool(const std::string&)>& is_run_file, const char* command,
                    const char* keep_hint) {
  namespace fs = std::filesystem;
  GHM_CHECK(!(resume && overwrite), command, ": --resume and --overwrite exclude each other");
  if (resume) return;
  std::vector<fs::path> ours;
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(work_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_run_file(name)) found.push_back(name);
    if (is_run_file(name) || is_run_temp_file(name, is_run_file)) ours.push_back(entry.path());
  }
  if (!overwrite) {
    if (found.empty()) return;
    std::sort(found.begin(), found.end());
    std::string names;
    for (std::size_t i = 0; i < found.size() && i < 6; ++i) names += (i ? ", " : "") + found[i];
    if (found.size() > 6) names += " and " + std::to_string(found.size() - 6) + " more";
    GHM_FAIL(command, ": the work directory '", work_dir, "' holds an earlier run (", names,
             "); pass ", keep_hint,
             ", or --overwrite to delete that run's files and start anew");
  }
  for (const fs::path& p : ours) {
    GHM_CHECK(!fs::is_directory(fs::symlink_status(p)), command, " --overwrite: '", p.string(),
              "' is a folder, not a file of a run; move it out of the work directory");
    fs::remove(p, ec);  // a symbolic link goes, its target stays
    GHM_CHECK(!ec, command, " --overwrite: cannot delete '", p.string(), "': ", ec.message());
  }
}

}  // namespace ghm::engine
