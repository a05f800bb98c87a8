// The training view of a COCO instances file (dataset.h): the shared parse (instances.h) hands
// each annotation's fields to a visitor that keeps them as floats, with the training rules'
// verdicts (too small; iscrowd or a value the view rejects); then the records are checked against
// the training reader's rules, the text is freed and the kept boxes are grouped by image with a
// stable counting sort. Peak memory is the file size plus ~56 bytes per annotation.
#include "coco/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <utility>

#include "coco/instances.h"
#include "core/check.h"

namespace ghm::coco {
namespace {

// The training view's requirements beyond the shared ones: image names and sizes, category names.
void check_images_and_categories(const InstancesFile& file) {
  for (std::size_t i = 0; i < file.images.size(); ++i) {
    const ImageEntry& image = file.images[i];
    const auto require = [&](std::uint8_t bit, const char* key) {
      if ((image.fields & bit) == 0) file.fail_at(image.offset, file.image_name(i), ".", key, ": missing (a required field)");
    };
    require(ImageEntry::kFileName, "file_name");
    require(ImageEntry::kWidth, "width");
    require(ImageEntry::kHeight, "height");
    for (const auto& [side, key] : {std::pair{image.width, "width"}, std::pair{image.height, "height"}})
      if (side < 1 || side > INT32_MAX)
        file.fail_at(image.offset, file.image_name(i), ".", key, ": an image side must be in [1, 2^31), got ", side);
  }
  for (std::size_t label = 0; label < file.categories.size(); ++label)
    if ((file.category_entries[label].fields & CategoryEntry::kName) == 0)
      file.fail_at(file.category_entries[label].offset, file.category_name(label), ".name: missing (a required field)");
}

// An annotation's fields as training keeps them (24 bytes; the parse holds its id and references).
struct TrainingBox {
  float x = 0, y = 0, w = 0, h = 0;
  float area = 0;             // the file's area, or w * h when absent
  std::uint8_t iscrowd = 0;
  bool too_small = false;     // width or height < min_box_side, or not positive
  bool rejected = false;      // iscrowd other than 0 or 1, or a value out of the range of a float
};

// The visitor: keeps each annotation's fields as a TrainingBox and, for the first one the training
// rules reject, the message (the first field in the order iscrowd, bbox[0..3], area).
class TrainingBoxes {
 public:
  explicit TrainingBoxes(float min_box_side) : min_side_(min_box_side) {}

  void add(const AnnotationFields& f) {
    TrainingBox box;
    box.x = static_cast<float>(f.x), box.y = static_cast<float>(f.y);
    box.w = static_cast<float>(f.w), box.h = static_cast<float>(f.h);
    box.area = (f.fields & AnnotationFields::kArea) != 0 ? static_cast<float>(f.area) : box.w * box.h;
    box.iscrowd = static_cast<std::uint8_t>(f.iscrowd);
    // The size test uses the file's values, before rounding to float.
    box.too_small = !(f.w > 0 && f.h > 0 && f.w >= min_side_ && f.h >= min_side_);
    const std::string problem = problem_of(f);
    box.rejected = !problem.empty();
    if (box.rejected && first_problem_.empty()) first_problem_ = problem;
    boxes.push_back(box);
  }
  // The message of the first rejected box: ".iscrowd: expected ...".
  const std::string& first_problem() const { return first_problem_; }

  std::vector<TrainingBox> boxes;  // parallel to InstancesFile::annotations

 private:
  static std::string problem_of(const AnnotationFields& f) {
    if (f.iscrowd != 0 && f.iscrowd != 1) return str_cat(".iscrowd: expected 0, 1, false or true, got ", f.iscrowd);
    const double box[4] = {f.x, f.y, f.w, f.h};
    const char* const beyond_float = " is out of the range of a float";
    for (int k = 0; k < 4; ++k)
      if (!std::isfinite(static_cast<float>(box[k]))) return str_cat(".bbox[", k, "]: ", box[k], beyond_float);
    if (!std::isfinite(static_cast<float>(f.area))) return str_cat(".area: ", f.area, beyond_float);
    return {};
  }

  float min_side_;
  std::string first_problem_;
};

// The training view's rules for annotations: references must resolve, iscrowd is 0 or 1, values
// fit in a float. The first annotation that breaks one is the error.
void check_annotations(const InstancesFile& file, const TrainingBoxes& kept) {
  for (std::size_t i = 0; i < file.annotations.size(); ++i) {
    const AnnotationEntry& a = file.annotations[i];
    if (a.image < 0)
      file.fail_at_annotation(i, ": image_id ", file.unresolved_of(i).image_id, " is not the id of an image in \"images\"");
    if (a.label < 0)
      file.fail_at_annotation(i, ": category_id ", file.unresolved_of(i).category_id,
                              " is not the id of a category in \"categories\"");
    if (kept.boxes[i].rejected) file.fail_at_annotation(i, kept.first_problem());
  }
}

// Fills data.images and data.boxes from the checked records, and data.report with the counts and
// the one warning line for skipped boxes.
void group_boxes(InstancesFile& file, const std::vector<TrainingBox>& boxes, const LoadOptions& options, Dataset& data) {
  LoadReport& report = data.report;
  report.annotations = static_cast<std::int64_t>(file.annotations.size());
  std::vector<std::uint32_t> kept(file.images.size(), 0), targets(file.images.size(), 0);  // boxes per image
  std::size_t first_skipped = file.annotations.size();
  for (std::size_t i = 0; i < file.annotations.size(); ++i) {
    if (boxes[i].too_small) {
      if (report.skipped_small_boxes++ == 0) first_skipped = i;
      continue;
    }
    const auto image = static_cast<std::size_t>(file.annotations[i].image);
    ++kept[image];
    targets[image] += boxes[i].iscrowd == 0 ? 1 : 0;
  }
  if (report.skipped_small_boxes > 0) {
    const TrainingBox& b = boxes[first_skipped];
    const float side = options.min_box_side;
    report.warnings.push_back(str_cat(data.path, ": skipped ", report.skipped_small_boxes, " of ", report.annotations,
                                      " boxes with width or height ", side > 0 ? str_cat("< ", side, " px") : "<= 0",
                                      " (first: ", file.annotation_name(first_skipped), ", ", b.w, " x ", b.h, ")"));
  }

  std::vector<std::uint32_t> cursor(file.images.size(), 0);  // where each image's next box goes
  std::uint32_t total = 0;
  data.images.reserve(file.images.size());
  for (std::size_t i = 0; i < file.images.size(); ++i) {
    const bool empty = targets[i] == 0;
    report.images_without_boxes += empty ? 1 : 0;
    if (empty && options.empty_images == EmptyImages::Drop) {
      ++report.dropped_images;
      kept[i] = 0;
      continue;
    }
    ImageEntry& entry = file.images[i];
    data.images.push_back({entry.id, std::move(entry.file_name), static_cast<std::int32_t>(entry.width),
                           static_cast<std::int32_t>(entry.height), total, kept[i]});
    cursor[i] = total;
    total += kept[i];
  }
  data.boxes.resize(total);
  for (std::size_t i = 0; i < file.annotations.size(); ++i) {
    const AnnotationEntry& a = file.annotations[i];
    const TrainingBox& b = boxes[i];
    const auto image = static_cast<std::size_t>(a.image);
    if (b.too_small || kept[image] == 0) continue;
    data.boxes[cursor[image]++] = {b.x, b.y, b.w, b.h, b.area, a.label, b.iscrowd, a.id};
    report.crowd_boxes += b.iscrowd;
  }
}

}  // namespace

std::int64_t Dataset::category_id(std::int32_t label) const {
  GHM_CHECK(label >= 0 && label < num_classes(), path, ": label ", label, " is out of range [0, ", num_classes(), ")");
  return categories[static_cast<std::size_t>(label)].id;
}

std::int32_t Dataset::label_of(std::int64_t id) const {
  const auto it = std::lower_bound(categories.begin(), categories.end(), id,
                                   [](const Category& c, std::int64_t value) { return c.id < value; });
  return it != categories.end() && it->id == id ? it->label : -1;
}

Dataset load_dataset(const std::string& path, const LoadOptions& options) {
  GHM_CHECK(options.min_box_side >= 0 && std::isfinite(options.min_box_side),
            "load_dataset: min_box_side must be a finite number >= 0, got ", options.min_box_side);
  TrainingBoxes kept(options.min_box_side);
  InstancesFile file = read_instances(io::read_padded_file(path, "COCO annotation file"), path,
                                      [&](const AnnotationFields& f) { kept.add(f); });
  check_images_and_categories(file);
  check_annotations(file, kept);
  file.text.release();  // every check that names a line is done

  Dataset data;
  data.path = path;
  data.categories = std::move(file.categories);
  group_boxes(file, kept.boxes, options, data);
  if (options.warnings == Warnings::Print)
    for (const std::string& line : data.report.warnings) std::cerr << line << '\n';
  return data;
}

}  // namespace ghm::coco
