// The evaluator's readers (eval.h says what they accept). Ground truth is the evaluation view of
// the instances-file parse that training shares (instances.h). Results files (a COCO val run is
// 365k detections, ~35 MB) are read by a JsonScanner that converts the four fields of each
// detection straight into a record and skips any other value, whatever its layout; so there is
// one reader for every valid results file, and its errors name the file, the detection's path
// and line:column.
#include <algorithm>
#include <unordered_map>
#include <utility>

#include "coco/eval.h"
#include "coco/instances.h"
#include "core/check.h"
#include "io/json_scan.h"

namespace ghm::coco {
namespace {

using io::JsonNumber;
using io::JsonScanner;

// Counts one kind of problem and remembers the first occurrence, for a single warning line.
struct ProblemCount {
  std::int64_t count = 0;
  std::string first;
  void add(const std::string& where) {
    if (count++ == 0) first = where;
  }
  void report(std::vector<std::string>& warnings, const std::string& source, const std::string& what) const {
    if (count > 0) warnings.push_back(str_cat(source, ": ", count, " ", what, " (first: ", first, ")"));
  }
};

// ---- ground truth --------------------------------------------------------------------------------

// An annotation's fields as the evaluation keeps them (the parse holds its id and references).
struct GroundTruthFields {
  Xywh box;
  double area = 0;
  std::uint8_t fields = 0;  // AnnotationFields' bits
  bool crowd = false;       // iscrowd nonzero
};

// The evaluation view: every annotation as pycocotools sees it; unknown images or categories are
// warnings, not errors, because COCOeval never looks at such annotations.
GroundTruth ground_truth_view(InstancesFile& file, const std::vector<GroundTruthFields>& fields) {
  for (std::size_t i = 0; i < file.annotations.size(); ++i) {
    if ((fields[i].fields & AnnotationFields::kArea) == 0)
      file.fail_at_annotation(i, ".area: missing (the evaluator needs it: it decides the area range)");
    if ((fields[i].fields & AnnotationFields::kIscrowd) == 0)
      file.fail_at_annotation(i, ".iscrowd: missing (a field the evaluator needs)");
  }
  file.text.release();  // every check that names a line is done

  GroundTruth gt;
  gt.source = file.path;
  std::vector<std::pair<std::int64_t, std::int32_t>> ids(file.images.size());  // (id, index in the file)
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = {file.images[i].id, static_cast<std::int32_t>(i)};
  std::sort(ids.begin(), ids.end());
  std::vector<std::int32_t> rank(ids.size());  // file index -> index into gt.image_ids
  gt.image_ids.reserve(ids.size());
  for (std::size_t r = 0; r < ids.size(); ++r) {
    gt.image_ids.push_back(ids[r].first);
    rank[static_cast<std::size_t>(ids[r].second)] = static_cast<std::int32_t>(r);
  }
  gt.categories = std::move(file.categories);

  ProblemCount unknown_image, unknown_category, ignore_flag;
  gt.annotations.reserve(file.annotations.size());
  for (std::size_t i = 0; i < file.annotations.size(); ++i) {
    const AnnotationEntry& a = file.annotations[i];
    const GroundTruthFields& f = fields[i];
    if ((f.fields & AnnotationFields::kIgnoreSet) != 0 && !f.crowd) ignore_flag.add(str_cat("$.annotations[", i, "]"));
    if (a.image < 0) unknown_image.add(str_cat("image_id ", file.unresolved_of(i).image_id, " at $.annotations[", i, "]"));
    else if (a.label < 0)
      unknown_category.add(str_cat("category_id ", file.unresolved_of(i).category_id, " at $.annotations[", i, "]"));
    else gt.annotations.push_back({a.id, rank[static_cast<std::size_t>(a.image)], a.label, f.box, f.area, f.crowd});
  }
  unknown_image.report(gt.warnings, gt.source, "annotation(s) on image ids missing from 'images' are not evaluated");
  unknown_category.report(gt.warnings, gt.source,
                          "annotation(s) with category ids missing from 'categories' are not evaluated");
  ignore_flag.report(gt.warnings, gt.source,
                     "non-crowd annotation(s) set 'ignore', which has no effect: pycocotools overwrites it with "
                     "'iscrowd'");
  return gt;
}

// Reads the instances file `text` and returns its evaluation view.
GroundTruth read_ground_truth(io::PaddedText text, const std::string& source) {
  std::vector<GroundTruthFields> fields;
  InstancesFile file = read_instances(std::move(text), source, [&](const AnnotationFields& f) {
    fields.push_back({{f.x, f.y, f.w, f.h}, f.area, f.fields, f.iscrowd != 0});
  });
  return ground_truth_view(file, fields);
}

// ---- results files -------------------------------------------------------------------------------

struct RawDetection {
  std::int64_t image_id = 0, category_id = 0;
  Xywh box;
  double score = 0;
};

// Reads a results file, a JSON array of {image_id, category_id, bbox, score} (other keys skipped).
class ResultsReader {
 public:
  explicit ResultsReader(JsonScanner& s) : s_(s) {}

  std::vector<RawDetection> read() {
    s_.skip_whitespace();
    if (s_.peek() != '[') {
      s_.skip_value(0);
      s_.finish();
      GHM_FAIL(s_.source(), ": a COCO results file is a JSON array of {image_id, category_id, bbox, score}");
    }
    std::vector<RawDetection> out;
    s_.for_each_element(0, [&](std::size_t i) { out.push_back(read_detection(i)); });
    s_.finish();
    return out;
  }

 private:
  template <class... Args>
  [[noreturn]] void fail(const char* at, const std::string& path, const Args&... what) const {
    GHM_FAIL(s_.source(), " at ", path, ": ", what..., " (", s_.line_column(at), ")");
  }

  // "<path>: expected <expected>, got a string". A malformed value is a syntax error instead.
  [[noreturn]] void fail_type(const std::string& path, const char* expected) {
    const char* at = s_.position();
    s_.skip_value(3);
    fail(at, path, "expected ", expected, ", got ", JsonScanner::value_kind(at));
  }

  // NaN and Infinity, which Python's json module writes, are not JSON; named here with the detection.
  void reject_non_finite(std::size_t index, std::string_view key) const {
    const char c = s_.peek();
    if (c == 'N' || c == 'I' || (c == '-' && s_.position()[1] == 'I'))
      GHM_FAIL(s_.source(), ": detection ", index, " ($[", index, "].", key,
               ") holds NaN or Infinity; non-finite values are not valid JSON and cannot be evaluated");
  }

  double read_number(std::size_t index, std::string_view key, const std::string& path) {
    reject_non_finite(index, key);
    if (!JsonScanner::starts_number(s_.peek())) fail_type(path, "a number");
    const JsonNumber n = s_.number();
    double v = 0;
    if (!n.to_double(v)) s_.fail_syntax(n.begin, "number ", n.text(), " is outside the range of a double");
    return v;
  }

  std::int64_t read_integer(std::size_t index, std::string_view key, const std::string& path) {
    reject_non_finite(index, key);
    if (!JsonScanner::starts_number(s_.peek())) fail_type(path, "an integer");
    const JsonNumber n = s_.number();
    std::int64_t v = 0;
    if (!n.to_int64(v)) fail(n.begin, path, "expected an integer that fits in int64, got ", n.text());
    return v;
  }

  Xywh read_box(std::size_t index, const std::string& path) {
    const char* start = s_.position();
    if (s_.peek() != '[') fail_type(path, "an array [x, y, width, height]");
    double v[4] = {};
    std::size_t count = 0;
    s_.for_each_element(2, [&](std::size_t i) {
      if (count < 4) v[count] = read_number(index, "bbox", str_cat(path, "[", i, "]"));
      else s_.skip_value(3);
      ++count;
    });
    if (count != 4) fail(start, path, "a bbox is [x, y, width, height], got ", count, " values");
    return {v[0], v[1], v[2], v[3]};
  }

  RawDetection read_detection(std::size_t index) {
    const std::string path = str_cat("$[", index, "]");
    if (s_.peek() != '{') fail_type(path, "an object {image_id, category_id, bbox, score}");
    const char* record = s_.position();
    RawDetection d;
    unsigned seen = 0;
    s_.for_each_member(
        1,
        [&](std::string_view key) {
          if (key == "image_id") {
            seen |= 1;
            d.image_id = read_integer(index, key, path + ".image_id");
          } else if (key == "category_id") {
            seen |= 2;
            d.category_id = read_integer(index, key, path + ".category_id");
          } else if (key == "bbox") {
            seen |= 4;
            d.box = read_box(index, path + ".bbox");
          } else if (key == "score") {
            seen |= 8;
            d.score = read_number(index, key, path + ".score");
          } else {
            s_.skip_value(2);
          }
        },
        [&] { return path; });
    const char* names[] = {"image_id", "category_id", "bbox", "score"};
    for (unsigned i = 0; i < 4; ++i)
      if ((seen >> i & 1u) == 0) fail(record, path, "missing key \"", names[i], "\"");
    return d;
  }

  JsonScanner& s_;
};

// Maps ids to their index in an ascending, unique list; -1 when absent. Consecutive lookups of
// one id (a results file lists an image's boxes together) skip the hash.
class IdIndex {
 public:
  template <class Ids, class IdOf>
  IdIndex(const Ids& items, IdOf id_of) {
    index_.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) index_.emplace(id_of(items[i]), static_cast<std::int32_t>(i));
  }
  std::int32_t find(std::int64_t id) {
    if (id == last_id_ && last_index_ >= 0) return last_index_;
    const auto it = index_.find(id);
    last_id_ = id;
    last_index_ = it == index_.end() ? -1 : it->second;
    return last_index_;
  }

 private:
  std::unordered_map<std::int64_t, std::int32_t> index_;
  std::int64_t last_id_ = 0;
  std::int32_t last_index_ = -1;
};

Detections detections_of(const std::vector<RawDetection>& raw, const std::string& source, const GroundTruth& gt) {
  // pycocotools' loadRes fails on an empty list too: its image-id assertion passes vacuously and
  // then `anns[0]` raises IndexError.
  GHM_CHECK(!raw.empty(), source, ": no detections (the results array is empty)");
  IdIndex images(gt.image_ids, [](std::int64_t id) { return id; });
  IdIndex categories(gt.categories, [](const Category& c) { return c.id; });

  Detections dt;
  dt.source = source;
  dt.detections.reserve(raw.size());
  ProblemCount unknown_category, degenerate;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const RawDetection& r = raw[i];
    const std::int32_t image = images.find(r.image_id);
    // pycocotools asserts "Results do not correspond to current coco set".
    GHM_CHECK(image >= 0, source, ": detection ", i, " ($[", i, "]) has image_id ", r.image_id,
              ", which is not an image of ", gt.source);
    const std::int32_t category = categories.find(r.category_id);
    if (category < 0) {
      unknown_category.add(str_cat("category_id ", r.category_id, " at $[", i, "]"));
      continue;
    }
    if (!(r.box.w > 0.0 && r.box.h > 0.0)) degenerate.add(str_cat("$[", i, "]"));
    dt.detections.push_back({image, category, r.box, r.score});
  }
  unknown_category.report(dt.warnings, source,
                          "detection(s) with category ids not in the ground truth were dropped (pycocotools never "
                          "evaluates them)");
  degenerate.report(dt.warnings, source,
                    "detection(s) with a non-positive width or height are kept and, as in pycocotools, never match "
                    "(false positives where their area w*h is in range)");
  return dt;
}

Detections read_detections(const io::PaddedText& text, const std::string& source, const GroundTruth& gt) {
  JsonScanner scanner(text, source);
  return detections_of(ResultsReader(scanner).read(), source, gt);
}

}  // namespace

GroundTruth parse_ground_truth(std::string_view text, const std::string& source) {
  return read_ground_truth(io::PaddedText(text), source);
}

GroundTruth load_ground_truth(const std::string& path) {
  return read_ground_truth(io::read_padded_file(path, "COCO ground-truth file"), path);
}

Detections parse_detections(std::string_view text, const std::string& source, const GroundTruth& gt) {
  return read_detections(io::PaddedText(text), source, gt);
}

Detections load_detections(const std::string& path, const GroundTruth& gt) {
  return read_detections(io::read_padded_file(path, "COCO results file"), path, gt);
}

}  // namespace ghm::coco
