// Loading COCO ground truth and results files for the evaluator (see coco_eval.h for the
// semantics). Ground truth goes through io::Json, which words every error with the value's path.
// Results files are large (a COCO val run is 365k detections, ~35 MB) and uniform, so a scanner
// reads them straight into records; it accepts only valid JSON, and whatever it does not handle
// (escapes or non-ASCII text in strings, nested values, fractional ids, a missing or repeated
// key, a malformed document) sends the whole file to io::Json, which reads anything valid and
// explains anything invalid. So both paths give the same records, and errors come from one place.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "core/check.h"
#include "coco/eval.h"
#include "io/json.h"

namespace ghm::detection {
namespace {

std::string read_file(const std::string& path, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  GHM_CHECK(f != nullptr, "cannot open ", what, " '", path, "': ", std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  GHM_CHECK(!failed, "cannot read ", what, " '", path, "'");
  return text;
}

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

// Maps ids (image or category) to their index in an ascending, unique list.
class IdIndex {
 public:
  template <class Ids>
  explicit IdIndex(const Ids& ids) {
    index_.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) index_.emplace(ids[i], static_cast<std::int32_t>(i));
  }
  // -1 when absent. Consecutive lookups of one id (a results file lists an image's boxes
  // together) skip the hash.
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

CocoBox read_box(const io::Json& j) {
  GHM_CHECK(j.size() == 4, j.location(), ": a bbox is [x, y, width, height], got ", j.size(), " values");
  return {j.at(0).as_double(), j.at(1).as_double(), j.at(2).as_double(), j.at(3).as_double()};
}

// Sorts `items` by id and fails naming the smallest repeated id.
template <class T, class Id>
void sort_unique_ids(std::vector<T>& items, Id id_of, const std::string& source, const char* what) {
  std::sort(items.begin(), items.end(), [&](const T& a, const T& b) { return id_of(a) < id_of(b); });
  const auto dup = std::adjacent_find(items.begin(), items.end(),
                                      [&](const T& a, const T& b) { return id_of(a) == id_of(b); });
  GHM_CHECK(dup == items.end(), source, ": ", what, " id ", id_of(*dup), " appears more than once");
}

bool truthy(const io::Json& j) {
  if (j.is_bool()) return j.as_bool();
  if (j.is_number()) return j.as_double() != 0.0;
  return false;
}

// ---- results files -------------------------------------------------------------------------------

struct RawDetection {
  std::int64_t image_id = 0, category_id = 0;
  CocoBox box;
  double score = 0;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The fast reader for results files. scan() returns false when the file needs the general parser.
class ResultsScanner {
 public:
  ResultsScanner(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  bool scan(std::vector<RawDetection>& out) {
    try {
      skip_ws();
      expect('[');
      skip_ws();
      if (!consume(']')) {
        while (true) {
          skip_ws();
          out.push_back(object(out.size()));
          skip_ws();
          if (consume(',')) continue;
          expect(']');
          break;
        }
      }
      skip_ws();
      if (pos_ != text_.size()) throw NeedsGeneralParser{};
      return true;
    } catch (const NeedsGeneralParser&) {
      out.clear();
      return false;
    }
  }

 private:
  struct NeedsGeneralParser {};
  enum Key : unsigned { kImage = 1, kCategory = 2, kBox = 4, kScore = 8, kAll = 15 };

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) throw NeedsGeneralParser{};
  }
  void skip_ws() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }

  RawDetection object(std::size_t index) {
    expect('{');
    RawDetection d;
    unsigned seen = 0;
    std::vector<std::string_view>& other = other_keys_;
    other.clear();
    while (true) {
      skip_ws();
      const std::string_view key = string();
      skip_ws();
      expect(':');
      skip_ws();
      unsigned bit = 0;
      if (key == "image_id") {
        bit = kImage;
        d.image_id = integer(index, key);
      } else if (key == "category_id") {
        bit = kCategory;
        d.category_id = integer(index, key);
      } else if (key == "score") {
        bit = kScore;
        d.score = number(index, key);
      } else if (key == "bbox") {
        bit = kBox;
        d.box = box(index);
      } else {
        if (std::find(other.begin(), other.end(), key) != other.end()) throw NeedsGeneralParser{};
        other.push_back(key);
        skip_value(index, key);
      }
      if ((seen & bit) != 0) throw NeedsGeneralParser{};  // a repeated key: invalid, io::Json says so
      seen |= bit;
      skip_ws();
      if (consume(',')) continue;
      expect('}');
      break;
    }
    if (seen != kAll) throw NeedsGeneralParser{};
    return d;
  }

  // A string without escapes, control characters or non-ASCII bytes.
  std::string_view string() {
    expect('"');
    const std::size_t start = pos_;
    while (pos_ < text_.size()) {
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') return text_.substr(start, pos_++ - start);
      if (c == '\\' || c < 0x20 || c >= 0x80) break;
      ++pos_;
    }
    throw NeedsGeneralParser{};
  }

  // The literal of a number (RFC 8259 grammar); `integral` tells whether it has no fraction or
  // exponent. NaN and Infinity, which Python's json module writes, are named here with the index.
  std::string_view number_literal(std::size_t index, std::string_view key, bool& integral) {
    const std::size_t start = pos_;
    const char c = peek();
    if (c == 'N' || c == 'I' || (c == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] == 'I'))
      GHM_FAIL(source_, ": detection ", index, " ($[", index, "].", key,
               ") holds NaN or Infinity; non-finite values are not valid JSON and cannot be evaluated");
    consume('-');
    if (consume('0')) {
      if (is_digit(peek())) throw NeedsGeneralParser{};
    } else {
      if (!is_digit(peek())) throw NeedsGeneralParser{};
      while (is_digit(peek())) ++pos_;
    }
    integral = true;
    if (consume('.')) {
      if (!is_digit(peek())) throw NeedsGeneralParser{};
      while (is_digit(peek())) ++pos_;
      integral = false;
    }
    if (consume('e') || consume('E')) {
      if (!consume('+')) consume('-');
      if (!is_digit(peek())) throw NeedsGeneralParser{};
      while (is_digit(peek())) ++pos_;
      integral = false;
    }
    return text_.substr(start, pos_ - start);
  }

  double number(std::size_t index, std::string_view key) {
    bool integral = false;
    const std::string_view s = number_literal(index, key, integral);
    double v = 0;
    // Out of range (1e400, or 1e-400 which would round to 0): io::Json reports it.
    if (std::from_chars(s.data(), s.data() + s.size(), v).ec != std::errc()) throw NeedsGeneralParser{};
    return v;
  }

  std::int64_t integer(std::size_t index, std::string_view key) {
    bool integral = false;
    const std::string_view s = number_literal(index, key, integral);
    std::int64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!integral || r.ec != std::errc() || r.ptr != s.data() + s.size()) throw NeedsGeneralParser{};
    return v;
  }

  CocoBox box(std::size_t index) {
    double v[4];
    expect('[');
    for (int i = 0; i < 4; ++i) {
      skip_ws();
      v[i] = number(index, "bbox");
      skip_ws();
      if (i < 3) expect(',');
    }
    expect(']');
    return {v[0], v[1], v[2], v[3]};
  }

  // Keys we do not use: a number, a plain string, a literal or an array of numbers.
  void skip_value(std::size_t index, std::string_view key) {
    const char c = peek();
    if (c == '"') {
      string();
    } else if (c == '[') {
      ++pos_;
      skip_ws();
      if (consume(']')) return;
      while (true) {
        skip_ws();
        number(index, key);
        skip_ws();
        if (consume(',')) continue;
        expect(']');
        return;
      }
    } else {
      for (const std::string_view literal : {"true", "false", "null"}) {
        if (text_.substr(pos_, literal.size()) == literal) {
          pos_ += literal.size();
          return;
        }
      }
      number(index, key);
    }
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
  std::vector<std::string_view> other_keys_;
};

std::vector<RawDetection> read_results_json(std::string_view text, const std::string& source) {
  std::vector<RawDetection> raw;
  if (ResultsScanner(text, source).scan(raw)) return raw;
  const io::Json doc = io::Json::parse(text, source);
  GHM_CHECK(doc.is_array(), source, ": a COCO results file is a JSON array of {image_id, category_id, bbox, score}");
  raw.reserve(doc.size());
  for (const io::Json& d : doc.as_array()) {
    GHM_CHECK(d.is_object(), d.location(), ": a detection is an object {image_id, category_id, bbox, score}");
    raw.push_back({d.at("image_id").as_int(), d.at("category_id").as_int(), read_box(d.at("bbox")),
                   d.at("score").as_double()});
  }
  return raw;
}

}  // namespace

// ---- ground truth --------------------------------------------------------------------------------

CocoGroundTruth parse_coco_ground_truth(std::string_view text, const std::string& source) {
  const io::Json doc = io::Json::parse(text, source);
  GHM_CHECK(doc.is_object(), source, ": a COCO ground-truth file is a JSON object with images, annotations and categories");
  CocoGroundTruth gt;
  gt.source = source;
  for (const io::Json& image : doc.at("images").as_array()) gt.image_ids.push_back(image.at("id").as_int());
  sort_unique_ids(gt.image_ids, [](std::int64_t id) { return id; }, source, "image");
  for (const io::Json& c : doc.at("categories").as_array()) {
    const io::Json* name = c.find("name");
    gt.categories.push_back({c.at("id").as_int(), name != nullptr ? name->as_string() : std::string()});
  }
  sort_unique_ids(gt.categories, [](const CocoCategory& c) { return c.id; }, source, "category");

  IdIndex images(gt.image_ids);
  std::vector<std::int64_t> category_ids;
  for (const CocoCategory& c : gt.categories) category_ids.push_back(c.id);
  IdIndex categories(category_ids);
  ProblemCount unknown_image, unknown_category, ignore_flag;
  const io::Json::Array& annotations = doc.at("annotations").as_array();
  gt.annotations.reserve(annotations.size());
  for (std::size_t i = 0; i < annotations.size(); ++i) {
    const io::Json& a = annotations[i];
    CocoAnnotation ann;
    ann.id = a.at("id").as_int();
    const std::int64_t image_id = a.at("image_id").as_int(), category_id = a.at("category_id").as_int();
    ann.box = read_box(a.at("bbox"));
    ann.area = a.at("area").as_double();
    const io::Json& crowd = a.at("iscrowd");  // 0/1, as COCO writes it, or a bool
    ann.crowd = crowd.is_bool() ? crowd.as_bool() : crowd.as_int() != 0;
    const io::Json* ignore = a.find("ignore");
    if (ignore != nullptr && truthy(*ignore) && !ann.crowd) ignore_flag.add(str_cat("$.annotations[", i, "]"));
    ann.image = images.find(image_id);
    ann.category = categories.find(category_id);
    if (ann.image < 0) unknown_image.add(str_cat("image_id ", image_id, " at $.annotations[", i, "]"));
    else if (ann.category < 0) unknown_category.add(str_cat("category_id ", category_id, " at $.annotations[", i, "]"));
    else gt.annotations.push_back(ann);
  }
  std::vector<std::int64_t> ann_ids;
  ann_ids.reserve(gt.annotations.size());
  for (const CocoAnnotation& a : gt.annotations) ann_ids.push_back(a.id);
  sort_unique_ids(ann_ids, [](std::int64_t id) { return id; }, source, "annotation");

  unknown_image.report(gt.warnings, source, "annotation(s) on image ids missing from 'images' are not evaluated");
  unknown_category.report(gt.warnings, source,
                          "annotation(s) with category ids missing from 'categories' are not evaluated");
  ignore_flag.report(gt.warnings, source,
                     "non-crowd annotation(s) set 'ignore', which has no effect: pycocotools overwrites it with "
                     "'iscrowd'");
  return gt;
}

CocoGroundTruth load_coco_ground_truth(const std::string& path) {
  return parse_coco_ground_truth(read_file(path, "COCO ground-truth file"), path);
}

// ---- detections ----------------------------------------------------------------------------------

CocoDetections parse_coco_detections(std::string_view text, const std::string& source, const CocoGroundTruth& gt) {
  const std::vector<RawDetection> raw = read_results_json(text, source);
  // pycocotools' loadRes fails on an empty list too: its image-id assertion passes vacuously and
  // then `anns[0]` raises IndexError.
  GHM_CHECK(!raw.empty(), source, ": no detections (the results array is empty)");
  IdIndex images(gt.image_ids);
  std::vector<std::int64_t> category_ids;
  for (const CocoCategory& c : gt.categories) category_ids.push_back(c.id);
  IdIndex categories(category_ids);

  CocoDetections dt;
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

CocoDetections load_coco_detections(const std::string& path, const CocoGroundTruth& gt) {
  return parse_coco_detections(read_file(path, "COCO results file"), path, gt);
}

}  // namespace ghm::detection
