// A COCO "instances" annotation file read into compact records for training.
//
//   coco::Dataset data = coco::load_dataset("annotations/instances_train2017.json");
//   for (const coco::ImageRecord& image : data.images)
//     for (const coco::BoxRecord& box : data.boxes_of(image)) use(box.label, box.iscrowd);
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
// Reading: the one parse of instances files that the evaluator shares (instances.h), so the
// JSON rules, the field types and the errors are the same in both. The training view adds:
// images[] need file_name and width, height in [1, 2^31); categories[] need a name; iscrowd is
// optional (default 0) and 0, 1, false or true; area is optional (default width * height); bbox
// values and area must fit in a float; an annotation whose image_id or category_id is not in
// the file is an error. Every error names the file, the
// element ("annotations[12] (id 907).bbox") and line:column.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ghm::coco {

// A category, in both views (the evaluator's ground truth too).
struct Category {
  std::int64_t id = 0;     // as in the file
  std::string name;        // "" when the file has none (the evaluator allows that)
  std::int32_t label = 0;  // contiguous index, in order of ascending id
};

struct BoxRecord {
  float x = 0, y = 0, w = 0, h = 0;  // top-left corner and size, pixels
  float area = 0;                    // the file's area (of the mask), or w * h when absent
  std::int32_t label = 0;            // index into Dataset::categories
  std::uint8_t iscrowd = 0;          // 1: an ignore region, not a training target
  std::int64_t id = 0;               // the annotation id
};

struct ImageRecord {
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

struct LoadOptions {
  EmptyImages empty_images = EmptyImages::Keep;
  float min_box_side = 1.0f;  // boxes narrower or shorter than this (pixels) are skipped; >= 0
  Warnings warnings = Warnings::Print;
};

struct LoadReport {
  std::int64_t annotations = 0;           // in the file
  std::int64_t skipped_small_boxes = 0;   // width or height < min_box_side or <= 0
  std::int64_t crowd_boxes = 0;           // kept, with iscrowd = 1, in the images kept
  std::int64_t images_without_boxes = 0;  // in the file, with no non-crowd box after skipping
  std::int64_t dropped_images = 0;        // of those, left out by EmptyImages::Drop
  std::vector<std::string> warnings;      // one line each, "<file>: ..."
};

struct Dataset {
  std::string path;
  std::vector<Category> categories;  // ascending id; categories[l].label == l
  std::vector<ImageRecord> images;   // in file order
  std::vector<BoxRecord> boxes;            // grouped by image, see the layout above
  LoadReport report;

  std::int32_t num_classes() const { return static_cast<std::int32_t>(categories.size()); }
  std::int64_t category_id(std::int32_t label) const;  // throws for a label out of range
  std::int32_t label_of(std::int64_t category_id) const;  // -1 when the file has no such category
  std::span<const BoxRecord> boxes_of(const ImageRecord& image) const {
    return std::span<const BoxRecord>(boxes).subspan(image.first_box, image.num_boxes);
  }
};

Dataset load_dataset(const std::string& path, const LoadOptions& options = {});

}  // namespace ghm::coco
