// Output names for `detect` (detect_outputs.h): expand the inputs, drop repeats, refuse an output
// folder that holds an input, then map each file to out_dir / (its folder relative to the common
// folder) / stem.
#include "engine/detect_outputs.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "core/check.h"

namespace ghm::engine {
namespace fs = std::filesystem;
namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(in))
        if (e.is_regular_file() && is_image_file(e.path())) found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      GHM_CHECK(!found.empty(), in, ": no .jpg, .jpeg, .png or .bmp files in this folder");
      files.insert(files.end(), found.begin(), found.end());
    } else {
      GHM_CHECK(fs::exists(in, ec), in, ": no such file or folder");
      GHM_CHECK(!fs::is_directory(in, ec), in, ": not an image file");
      files.push_back(in);
    }
  }
  return files;
}

// Whether `path` lies inside `folder` (both absolute and normal).
bool is_inside(const fs::path& path, const fs::path& folder) {
  const fs::path rel = path.lexically_relative(folder);
  return !rel.empty() && *rel.begin() != "..";
}

// The deepest folder that holds every path (all absolute and normal).
fs::path common_folder(const std::vector<fs::path>& files) {
  fs::path common = files.front().parent_path();
  for (const fs::path& f : files)
    while (!is_inside(f, common) && common.has_relative_path()) common = common.parent_path();
  return common;
}

}  // namespace

std::vector<DetectOutput> plan_detect_outputs(const std::vector<std::string>& inputs, const std::string& out_dir) {
  GHM_CHECK(!inputs.empty(), "detect: no input images");
  std::error_code ec;
  GHM_CHECK(!fs::exists(out_dir, ec) || fs::is_directory(out_dir, ec), "detect: --out '", out_dir,
            "' exists and is not a folder");
  const fs::path out_real = fs::weakly_canonical(fs::absolute(out_dir));
  const fs::path out_given = fs::absolute(out_dir).lexically_normal();
  std::vector<std::string> files;
  std::vector<fs::path> where;  // absolute, normal, links kept: the structure the user sees
  std::set<fs::path> seen;      // links resolved: the same file given twice
  for (const std::string& f : expand_inputs(inputs)) {
    const fs::path real = fs::weakly_canonical(fs::absolute(f));
    // Where the file is, and where it seems to be (a link in the output folder to an image
    // elsewhere would have its target replaced by the drawing).
    const fs::path given = fs::absolute(f).lexically_normal();
    GHM_CHECK(!is_inside(real, out_real) && !is_inside(given, out_given) && !is_inside(given, out_real),
              "detect: the output folder '", out_dir, "' holds the input '", f,
              "'; outputs would overwrite or mix with the images; choose another --out");
    if (!seen.insert(real).second) continue;
    files.push_back(f);
    where.push_back(fs::absolute(f).lexically_normal());
  }
  const fs::path common = common_folder(where);

  // Output stems relative to out_dir; a stem two files share keeps their extensions.
  std::vector<fs::path> rel(files.size());
  std::map<fs::path, int> uses;
  for (std::size_t i = 0; i < files.size(); ++i) {
    rel[i] = where[i].parent_path().lexically_relative(common) / where[i].stem();
    ++uses[rel[i]];
  }
  std::map<fs::path, std::size_t> owner;
  std::vector<DetectOutput> plan;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (uses[rel[i]] > 1) rel[i] = where[i].parent_path().lexically_relative(common) / where[i].filename();
    rel[i] = rel[i].lexically_normal();
    const auto [it, fresh] = owner.emplace(rel[i], i);
    GHM_CHECK(fresh, "detect: '", files[it->second], "' and '", files[i], "' would both write ",
              (fs::path(out_dir) / rel[i]).string(), ".json; give them in separate runs");
    plan.push_back({files[i], (fs::path(out_dir) / rel[i]).string()});
    // Last guard: no output may be an input under another name (links inside the tree).
    for (const char* ext : {".json", ".jpg"})
      GHM_CHECK(!seen.contains(fs::weakly_canonical(fs::absolute(plan.back().stem + ext))), "detect: the output ",
                plan.back().stem, ext, " would replace an input image; choose another --out");
  }
  return plan;
}

}  // namespace ghm::engine
