// The one parse of a COCO instances file, shared by the training reader (dataset.h) and the
// evaluator's ground truth (eval.h). Each is a view over these records: the training view applies
// the training rules (skips small boxes, labels, drops empty images), the evaluation view keeps
// every annotation as pycocotools sees it.
//
// What the parse checks, for both views: the JSON grammar of the whole file (json_scan.h: UTF-8,
// escapes, numbers, duplicate keys at any level); that images, annotations and categories are
// arrays of objects; the type of every field either view reads (below); the fields both views
// need (images[].id; annotations[].id, image_id, category_id, bbox of 4 numbers; categories[].id);
// that image, category and annotation ids are unique. It resolves each annotation's image_id
// and category_id (-1 when the file has no such image or category: the training view fails,
// the evaluation view warns). Errors name the file, the element ("annotations[12] (id 907).bbox")
// and line:column.
//
// Fields read, with their types (a field of another type is an error in both views):
//   images[]:       id (integer), file_name (string), width, height (integers)
//   annotations[]:  id, image_id, category_id (integers), bbox (4 numbers), area (number),
//                   iscrowd (integer or bool), ignore (any value; a nonzero number or true is set)
//   categories[]:   id (integer), name (string)
// Integers are literals that fit in int64, exact, or numbers with an integral value (1e3, 7.0).
// Everything else (segmentations, info, licenses, URLs) is checked for JSON validity and skipped.
//
// Each annotation's own fields (bbox, area, iscrowd, ignore) go to the view as they are read
// (AnnotationVisitor), and the view keeps what it needs of them (training: floats; evaluation:
// doubles), so no field that a view drops is held for every annotation.
//
// Memory: the file text (kept until the views' checks are done, for line:column), plus per
// annotation 16 bytes here (id, image, label), the file's image_id and category_id (16 bytes,
// freed once resolved) and what the view keeps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "coco/dataset.h"
#include "io/json_scan.h"

namespace ghm::coco {

// Each entry's `fields` has a bit for each optional field the record has.
struct ImageEntry {
  static constexpr std::uint8_t kFileName = 1, kWidth = 2, kHeight = 4;
  std::int64_t id = 0;
  std::string file_name;
  std::int64_t width = 0, height = 0;
  std::size_t offset = 0;  // of the record in the file
  std::uint8_t fields = 0;
};

// An annotation's fields besides its id and references, as the file writes them.
struct AnnotationFields {
  static constexpr std::uint8_t kArea = 1, kIscrowd = 2, kIgnoreSet = 4;  // kIgnoreSet: `ignore` true or nonzero
  double x = 0, y = 0, w = 0, h = 0;  // bbox
  double area = 0;                    // 0 unless the kArea bit is set
  std::int64_t iscrowd = 0;           // 0 unless the kIscrowd bit is set (false: 0, true: 1)
  std::uint8_t fields = 0;
};

// Called with each annotation's fields, in file order, as soon as the annotation is read.
using AnnotationVisitor = std::function<void(const AnnotationFields&)>;

// An annotation's id and what its image_id and category_id resolve to.
struct AnnotationEntry {
  std::int64_t id = 0;
  std::int32_t image = -1;  // index into InstancesFile::images; -1: no image with the file's image_id
  std::int32_t label = -1;  // index into InstancesFile::categories; -1: no such category
};

// The file's image_id and category_id of an annotation with a reference that does not resolve.
struct UnresolvedReference {
  std::size_t annotation = 0;  // index into InstancesFile::annotations
  std::int64_t image_id = 0, category_id = 0;
};

struct CategoryEntry {
  static constexpr std::uint8_t kName = 1;
  std::size_t index = 0, offset = 0;  // in the file's categories array, and in the file
  std::uint8_t fields = 0;
};

struct InstancesFile {
  std::string path;
  io::PaddedText text;  // released by the views once their checks are done
  std::vector<ImageEntry> images;            // in file order
  std::vector<AnnotationEntry> annotations;  // in file order
  std::vector<UnresolvedReference> unresolved;  // ascending annotation index; empty in a consistent file
  std::vector<Category> categories;          // ascending id; categories[l].label == l
  std::vector<CategoryEntry> category_entries;  // parallel to categories

  // "images[3] (id 7)", "annotations[12] (id 907)", "categories[0] (id 3)".
  std::string image_name(std::size_t i) const;
  std::string annotation_name(std::size_t i) const;
  std::string category_name(std::size_t label) const;
  // The unresolved reference of annotation `i`, which has image or label -1.
  const UnresolvedReference& unresolved_of(std::size_t i) const;
  // Errors about content: "<file>: <what> (line L, column C)", at byte `offset`.
  template <class... Args>
  [[noreturn]] void fail_at(std::size_t offset, const Args&... what) const {
    GHM_FAIL(path, ": ", what..., " (", io::json_line_column(text.view(), offset), ")");
  }
  // "<file>: annotations[i] (id N)<what> (line L, column C)". Annotations keep no offsets: this
  // scans the text again for the i-th one, which costs a read of the file on this error path only.
  template <class... Args>
  [[noreturn]] void fail_at_annotation(std::size_t i, const Args&... what) const {
    fail_at(annotation_offset(i), annotation_name(i), what...);
  }
  std::size_t annotation_offset(std::size_t i) const;
};

// Parses `text` (the file at `path`, for messages) and runs the checks above; `visit` receives
// each annotation's fields.
InstancesFile read_instances(io::PaddedText text, const std::string& path, const AnnotationVisitor& visit);

}  // namespace ghm::coco
