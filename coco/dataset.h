// A COCO "instances" annotation file read into compact records for training.
//
//   CocoDataset coco = load_coco_dataset("annotations/instances_train2017.json");
//   for (const CocoImageRecord& image : coco.images)
//     for (const CocoBox& box : coco.boxes_of(image)) use(box.label, box.iscrowd);
//
// What is kept: per image its id, file name and size; per annotation its box (COCO's x, y, width,
// height in pixels), area, category and crowd flag. Everything else (segmentation polygons and
// RLE masks, which are most of the file, info, licenses, URLs) is checked for JSON validity and
// skipped without being stored.
//
// Layout: `boxes` holds the boxes of all images back to back, image by image in the order of
// `images`, which is the file's order; an image's boxes are boxes[first_box, first_box +
// num_boxes), in the order the file lists them. Categories are sorted by id, and a category's
// label is its index there: COCO's 80 ids 1..90 (with gaps) become labels 0..79, and
// categories[label].id maps a label back to the file's id.
//
// Training rules (mmdetection's CocoDataset): a box whose width or height is below
// min_box_side (1 px), or not positive, is skipped; all skipped boxes are counted in one warning
// line. Crowd boxes are kept with iscrowd = 1: the trainer uses them as ignore regions, not as
// targets. An image "without boxes" is one with no non-crowd box left; such images are kept as
// negatives unless the options drop them (mmdetection's filter_empty_gt).
//
// Strictness. The whole file must follow the JSON grammar (RFC 8259: no comments, NaN, trailing
// commas, leading zeros, raw control characters, invalid UTF-8 or lone surrogates), the parts
// that are skipped included; a syntax error names the file, line:column and byte offset.
// Required fields, with their types:
//   images[]:       id (integer), file_name (string), width, height (integers >= 1)
//   annotations[]:  id, image_id, category_id (integers), bbox (4 numbers)
//   categories[]:   id (integer), name (string)
// Optional: annotations[].iscrowd (0, 1, false or true; default 0) and annotations[].area (a
// number; default width * height). A missing or mistyped field, a key given twice in one record,
// a repeated image, category or annotation id, or an annotation whose image_id or category_id is
// not in the file is an error naming the file and the element ("annotations[12] (id 907).bbox").
// Keys not listed here are skipped at any level, without checking them for repeats.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ghm::io {

struct CocoCategory {
  std::int64_t id = 0;     // as in the file
  std::string name;
  std::int32_t label = 0;  // contiguous index, in order of ascending id
};

struct CocoBox {
  float x = 0, y = 0, w = 0, h = 0;  // top-left corner and size, pixels
  float area = 0;                    // the file's area (of the mask), or w * h when absent
  std::int32_t label = 0;            // index into CocoDataset::categories
  std::uint8_t iscrowd = 0;          // 1: an ignore region, not a training target
  std::int64_t id = 0;               // the annotation id
};

struct CocoImageRecord {
  std::int64_t id = 0;
  std::string file_name;
  std::int32_t width = 0, height = 0;
  std::uint32_t first_box = 0, num_boxes = 0;  // crowd boxes included
};

enum class EmptyImages {
  Keep,  // images without a non-crowd box stay, as negatives
  Drop,  // they are left out, with their crowd boxes (mmdetection's filter_empty_gt)
};

enum class Warnings {
  Print,    // each warning line goes to std::cerr as well as into the report
  Collect,  // report.warnings only
};

struct CocoLoadOptions {
  EmptyImages empty_images = EmptyImages::Keep;
  float min_box_side = 1.0f;  // boxes narrower or shorter than this (pixels) are skipped; >= 0
  Warnings warnings = Warnings::Print;
};

struct CocoLoadReport {
  std::int64_t annotations = 0;           // in the file
  std::int64_t skipped_small_boxes = 0;   // width or height < min_box_side or <= 0
  std::int64_t crowd_boxes = 0;           // kept, with iscrowd = 1, in the images kept
  std::int64_t images_without_boxes = 0;  // in the file, with no non-crowd box after skipping
  std::int64_t dropped_images = 0;        // of those, left out by EmptyImages::Drop
  std::vector<std::string> warnings;      // one line each, "<file>: ..."
};

struct CocoDataset {
  std::string path;
  std::vector<CocoCategory> categories;  // ascending id; categories[l].label == l
  std::vector<CocoImageRecord> images;   // in file order
  std::vector<CocoBox> boxes;            // grouped by image, see the layout above
  CocoLoadReport report;

  std::int32_t num_classes() const { return static_cast<std::int32_t>(categories.size()); }
  std::int64_t category_id(std::int32_t label) const;  // throws for a label out of range
  std::int32_t label_of(std::int64_t category_id) const;  // -1 when the file has no such category
  std::span<const CocoBox> boxes_of(const CocoImageRecord& image) const {
    return std::span<const CocoBox>(boxes).subspan(image.first_box, image.num_boxes);
  }
};

CocoDataset load_coco_dataset(const std::string& path, const CocoLoadOptions& options = {});

}  // namespace ghm::io
