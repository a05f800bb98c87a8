// Reading a COCO instances file into records (instances.h says what is read and checked).
//
// Why not io::Json: instances_train2017.json is 448 MiB, and a tree of it costs gigabytes and
// tens of seconds. Here JsonScanner walks the text once: the fields either view uses are
// converted straight into small records, everything else is skipped with its grammar checked.
//
// Two steps:
//   1. scan:    images, annotations and categories into records, in file order; image and
//               category records keep their byte offset so that errors found later can name line
//               and column (annotations do not: there are millions, and errors are rare); each
//               annotation's own fields go to the view's visitor
//   2. resolve: categories sorted by id (their labels), image ids hashed, each annotation's image
//               and category found, repeated annotation ids found by sorting the ids
#include "coco/instances.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/check.h"

namespace ghm::coco {
namespace {

using io::JsonNumber;
using io::JsonScanner;

// The record being read, for messages: "annotations[12] (id 907).bbox[2]".
struct Element {
  const char* section;
  std::size_t index;
  const std::int64_t* id = nullptr;  // null until the record's id is read

  std::string name() const {
    return id != nullptr ? str_cat(section, "[", index, "] (id ", *id, ")") : str_cat(section, "[", index, "]");
  }
  std::string field(std::string_view key, int item = -1) const {
    return item < 0 ? str_cat(name(), ".", key) : str_cat(name(), ".", key, "[", item, "]");
  }
  std::string path() const { return str_cat("$.", section, "[", index, "]"); }
};

struct RawCategory {
  Category category;
  CategoryEntry entry;
};

// Reads the document into records, in file order.
class InstancesReader {
 public:
  InstancesReader(JsonScanner& s, const std::string& path, const AnnotationVisitor& visit)
      : s_(s), path_(path), visit_(visit) {}

  std::vector<ImageEntry> images;
  std::vector<AnnotationEntry> annotations;
  std::vector<std::array<std::int64_t, 2>> references;  // parallel to annotations: image_id, category_id
  std::vector<RawCategory> categories;

  void read_document() {
    s_.skip_whitespace();
    if (s_.peek() != '{') fail_type("a COCO instances file", "a JSON object with images, annotations and categories");
    unsigned seen = 0;
    const auto section = [&](std::string_view key, unsigned bit, auto read_record) {
      seen |= bit;
      if (s_.peek() != '[') fail_type(std::string(key), "an array");
      s_.for_each_element(1, [&](std::size_t i) {
        if (s_.peek() != '{') fail_type(str_cat(key, "[", i, "]"), "an object");
        (this->*read_record)(i);
      });
    };
    s_.for_each_member(
        0,
        [&](std::string_view key) {
          if (key == "images") section(key, 1, &InstancesReader::read_image);
          else if (key == "annotations") section(key, 2, &InstancesReader::read_annotation);
          else if (key == "categories") section(key, 4, &InstancesReader::read_category);
          else s_.skip_value(1);
        },
        [] { return std::string("$"); });
    s_.finish();
    const char* names[] = {"images", "annotations", "categories"};
    for (unsigned i = 0; i < 3; ++i)
      GHM_CHECK((seen >> i & 1u) != 0, path_, ": \"", names[i],
                "\" is missing (a COCO instances file has images, annotations and categories)");
  }

 private:
  template <class... Args>
  [[noreturn]] void fail_content(const char* at, const Args&... what) const {
    GHM_FAIL(path_, ": ", what..., " (", s_.line_column(at), ")");
  }

  // "<what>: expected <expected>, got a string". A malformed value is a syntax error instead.
  [[noreturn]] void fail_type(const std::string& what, const char* expected) {
    const char* at = s_.position();
    s_.skip_value(3);
    fail_content(at, what, ": expected ", expected, ", got ", JsonScanner::value_kind(at));
  }

  // Fails for the first of `names` (bit 1 << i for names[i]) that `seen` lacks.
  void require(unsigned seen, std::initializer_list<const char*> names, const Element& e, const char* record) const {
    unsigned bit = 1;
    for (const char* name : names) {
      if ((seen & bit) == 0) fail_content(record, e.field(name), ": missing (a required field)");
      bit <<= 1;
    }
  }

  double read_double(const Element& e, std::string_view key, int item = -1) {
    if (!JsonScanner::starts_number(s_.peek())) fail_type(e.field(key, item), "a number");
    const JsonNumber n = s_.number();
    double v = 0;
    if (!n.to_double(v)) fail_content(n.begin, e.field(key, item), ": ", n.text(), " is out of the range of a double");
    return v;
  }

  std::int64_t read_integer(const Element& e, std::string_view key) {
    if (!JsonScanner::starts_number(s_.peek())) fail_type(e.field(key), "an integer");
    const JsonNumber n = s_.number();
    std::int64_t v = 0;
    if (!n.to_int64(v)) fail_content(n.begin, e.field(key), ": expected an integer that fits in int64, got ", n.text());
    return v;
  }

  std::string read_string(const Element& e, std::string_view key) {
    if (s_.peek() != '"') fail_type(e.field(key), "a string");
    std::string out;
    s_.string(&out);
    return out;
  }

  void read_image(std::size_t index) {
    const char* record = s_.position();
    ImageEntry image;
    image.offset = s_.offset();
    Element e{"images", index};
    unsigned seen = 0;
    s_.for_each_member(
        2,
        [&](std::string_view key) {
          if (key == "id") {
            seen |= 1;
            image.id = read_integer(e, key);
            e.id = &image.id;
          } else if (key == "file_name") {
            image.fields |= ImageEntry::kFileName;
            image.file_name = read_string(e, key);
          } else if (key == "width") {
            image.fields |= ImageEntry::kWidth;
            image.width = read_integer(e, key);
          } else if (key == "height") {
            image.fields |= ImageEntry::kHeight;
            image.height = read_integer(e, key);
          } else {
            s_.skip_value(3);
          }
        },
        [&] { return e.path(); });
    require(seen, {"id"}, e, record);
    images.push_back(std::move(image));
  }

  // [x, y, width, height].
  void read_bbox(const Element& e, AnnotationFields& a) {
    const char* start = s_.position();
    if (s_.peek() != '[') fail_type(e.field("bbox"), "an array [x, y, width, height]");
    double v[4] = {};
    int count = 0;
    s_.for_each_element(3, [&](std::size_t) {
      if (count < 4) v[count] = read_double(e, "bbox", count);
      else s_.skip_value(4);
      ++count;
    });
    if (count != 4)
      fail_content(start, e.field("bbox"), ": expected 4 numbers [x, y, width, height], got ", count, " values");
    a.x = v[0], a.y = v[1], a.w = v[2], a.h = v[3];
  }

  std::int64_t read_crowd(const Element& e) {
    const char c = s_.peek();
    if (c == 't' || c == 'f') {
      s_.skip_value(3);
      return c == 't' ? 1 : 0;
    }
    if (!JsonScanner::starts_number(c)) fail_type(e.field("iscrowd"), "0, 1, false or true");
    return read_integer(e, "iscrowd");
  }

  // pycocotools' truth test of `ignore`: true, or a number other than 0; any other value is unset.
  bool read_ignore() {
    const char c = s_.peek();
    if (JsonScanner::starts_number(c)) {
      const JsonNumber n = s_.number();
      double v = 0;
      if (!n.to_double(v)) s_.fail_syntax(n.begin, "number ", n.text(), " is outside the range of a double");
      return v != 0.0;
    }
    s_.skip_value(3);
    return c == 't';
  }

  void read_annotation(std::size_t index) {
    const char* record = s_.position();
    AnnotationEntry a;
    AnnotationFields f;
    std::array<std::int64_t, 2> reference{};  // image_id, category_id
    Element e{"annotations", index};
    unsigned seen = 0;
    s_.for_each_member(
        2,
        [&](std::string_view key) {
          if (key == "segmentation") {  // first: it is most of the file
            s_.skip_value(3);
          } else if (key == "bbox") {
            seen |= 1;
            read_bbox(e, f);
          } else if (key == "image_id") {
            seen |= 2;
            reference[0] = read_integer(e, key);
          } else if (key == "category_id") {
            seen |= 4;
            reference[1] = read_integer(e, key);
          } else if (key == "id") {
            seen |= 8;
            a.id = read_integer(e, key);
            e.id = &a.id;
          } else if (key == "area") {
            f.fields |= AnnotationFields::kArea;
            f.area = read_double(e, key);
          } else if (key == "iscrowd") {
            f.fields |= AnnotationFields::kIscrowd;
            f.iscrowd = read_crowd(e);
          } else if (key == "ignore") {
            if (read_ignore()) f.fields |= AnnotationFields::kIgnoreSet;
          } else {
            s_.skip_value(3);
          }
        },
        [&] { return e.path(); });
    require(seen, {"bbox", "image_id", "category_id", "id"}, e, record);
    annotations.push_back(a);
    references.push_back(reference);
    visit_(f);
  }

  void read_category(std::size_t index) {
    const char* record = s_.position();
    RawCategory c;
    c.entry.index = index;
    c.entry.offset = s_.offset();
    Element e{"categories", index};
    unsigned seen = 0;
    s_.for_each_member(
        2,
        [&](std::string_view key) {
          if (key == "id") {
            seen |= 1;
            c.category.id = read_integer(e, key);
            e.id = &c.category.id;
          } else if (key == "name") {
            c.entry.fields |= CategoryEntry::kName;
            c.category.name = read_string(e, key);
          } else {
            s_.skip_value(3);
          }
        },
        [&] { return e.path(); });
    require(seen, {"id"}, e, record);
    categories.push_back(std::move(c));
  }

  JsonScanner& s_;
  const std::string& path_;
  const AnnotationVisitor& visit_;
};

// Categories sorted by id, labelled 0, 1, ... in that order; a repeated id is an error.
void label_categories(std::vector<RawCategory>& raw, InstancesFile& file) {
  std::stable_sort(raw.begin(), raw.end(),
                   [](const RawCategory& a, const RawCategory& b) { return a.category.id < b.category.id; });
  file.categories.reserve(raw.size());
  file.category_entries.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (i > 0 && raw[i].category.id == raw[i - 1].category.id)
      file.fail_at(raw[i].entry.offset, "categories[", raw[i].entry.index, "]: category id ", raw[i].category.id,
                   " appears twice (also categories[", raw[i - 1].entry.index, "])");
    raw[i].category.label = static_cast<std::int32_t>(i);
    file.categories.push_back(std::move(raw[i].category));
    file.category_entries.push_back(raw[i].entry);
  }
}

// Checks that image ids are unique, and finds each annotation's image and label; records the
// file's ids of the annotations whose references do not resolve.
void resolve_references(const std::vector<std::array<std::int64_t, 2>>& references, InstancesFile& file) {
  std::unordered_map<std::int64_t, std::int32_t> image_index;
  image_index.reserve(file.images.size());
  for (std::size_t i = 0; i < file.images.size(); ++i) {
    const auto [it, inserted] = image_index.emplace(file.images[i].id, static_cast<std::int32_t>(i));
    if (!inserted)
      file.fail_at(file.images[i].offset, "images[", i, "]: image id ", file.images[i].id, " appears twice (also images[",
                   it->second, "])");
  }
  const std::vector<Category>& categories = file.categories;
  for (std::size_t i = 0; i < references.size(); ++i) {
    const auto [image_id, category_id] = references[i];
    AnnotationEntry& a = file.annotations[i];
    const auto image = image_index.find(image_id);
    a.image = image == image_index.end() ? -1 : image->second;
    const auto category = std::lower_bound(categories.begin(), categories.end(), category_id,
                                           [](const Category& c, std::int64_t id) { return c.id < id; });
    a.label = category != categories.end() && category->id == category_id ? category->label : -1;
    if (a.image < 0 || a.label < 0) file.unresolved.push_back({i, image_id, category_id});
  }
}

// Checks that annotation ids are unique: sorts a copy of the ids, and on a repeat names the first
// two annotations with the smallest repeated id.
void check_annotation_ids(const InstancesFile& file) {
  std::vector<std::int64_t> ids(file.annotations.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = file.annotations[i].id;
  std::sort(ids.begin(), ids.end());
  const auto repeat = std::adjacent_find(ids.begin(), ids.end());
  if (repeat == ids.end()) return;
  std::size_t first = file.annotations.size();
  for (std::size_t i = 0; i < file.annotations.size(); ++i) {
    if (file.annotations[i].id != *repeat) continue;
    if (first == file.annotations.size()) {
      first = i;
      continue;
    }
    file.fail_at(file.annotation_offset(i), "annotations[", i, "]: annotation id ", *repeat,
                 " appears twice (also annotations[", first, "])");
  }
}

}  // namespace

std::string InstancesFile::image_name(std::size_t i) const { return str_cat("images[", i, "] (id ", images[i].id, ")"); }

std::string InstancesFile::annotation_name(std::size_t i) const {
  return str_cat("annotations[", i, "] (id ", annotations[i].id, ")");
}

const UnresolvedReference& InstancesFile::unresolved_of(std::size_t i) const {
  const auto it = std::lower_bound(unresolved.begin(), unresolved.end(), i,
                                   [](const UnresolvedReference& r, std::size_t index) { return r.annotation < index; });
  GHM_CHECK(it != unresolved.end() && it->annotation == i, path, ": ", annotation_name(i), " has no unresolved reference");
  return *it;
}

std::size_t InstancesFile::annotation_offset(std::size_t i) const {
  JsonScanner s(text, path);
  std::size_t offset = 0;
  s.skip_whitespace();
  s.for_each_member(
      0,
      [&](std::string_view key) {
        if (key != "annotations") {
          s.skip_value(1);
          return;
        }
        s.for_each_element(1, [&](std::size_t index) {
          if (index == i) offset = s.offset();
          s.skip_value(2);
        });
      },
      [] { return std::string("$"); });
  return offset;
}

std::string InstancesFile::category_name(std::size_t label) const {
  return str_cat("categories[", category_entries[label].index, "] (id ", categories[label].id, ")");
}

InstancesFile read_instances(io::PaddedText text, const std::string& path, const AnnotationVisitor& visit) {
  InstancesFile file;
  file.path = path;
  file.text = std::move(text);
  JsonScanner scanner(file.text, file.path);
  InstancesReader reader(scanner, file.path, visit);
  reader.read_document();
  file.images = std::move(reader.images);
  file.annotations = std::move(reader.annotations);
  label_categories(reader.categories, file);
  resolve_references(reader.references, file);
  reader.references = {};  // freed before the ids are sorted
  check_annotation_ids(file);
  return file;
}

}  // namespace ghm::coco
