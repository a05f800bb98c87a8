// The training view of a COCO instances file (dataset.h): the records of the shared parse
// (instances.h) checked against the training reader's rules, then the text is freed and the kept
// boxes are grouped by image with a stable counting sort. Peak memory is the file size plus
// ~150 bytes per annotation.
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

// The training view's rules for annotations: references must resolve, iscrowd is 0 or 1, values fit in a float.
void check_annotations(const InstancesFile& file) {
  for (std::size_t i = 0; i < file.annotations.size(); ++i) {
    const AnnotationEntry& a = file.annotations[i];
    if (a.image < 0)
      file.fail_at(a.offset, file.annotation_name(i), ": image_id ", a.image_id, " is not the id of an image in \"images\"");
    if (a.label < 0)
      file.fail_at(a.offset, file.annotation_name(i), ": category_id ", a.category_id,
                   " is not the id of a category in \"categories\"");
    if (a.iscrowd != 0 && a.iscrowd != 1)
      file.fail_at(a.offset, file.annotation_name(i), ".iscrowd: expected 0, 1, false or true, got ", a.iscrowd);
    const double box[4] = {a.x, a.y, a.w, a.h};
    for (int k = 0; k < 4; ++k)
      if (!std::isfinite(static_cast<float>(box[k])))
        file.fail_at(a.offset, file.annotation_name(i), ".bbox[", k, "]: ", box[k], " is out of the range of a float");
    if (!std::isfinite(static_cast<float>(a.area)))
      file.fail_at(a.offset, file.annotation_name(i), ".area: ", a.area, " is out of the range of a float");
  }
}

// A box narrower or shorter than min_side, or not positive; the test uses the file's values,
// before rounding to float.
bool too_small(const AnnotationEntry& a, float min_side) {
  return !(a.w > 0 && a.h > 0 && a.w >= min_side && a.h >= min_side);
}

// Fills data.images and data.boxes from the checked records, and data.report with the counts and
// the one warning line for skipped boxes.
void group_boxes(InstancesFile& file, const LoadOptions& options, Dataset& data) {
  LoadReport& report = data.report;
  report.annotations = static_cast<std::int64_t>(file.annotations.size());
  std::vector<std::uint32_t> kept(file.images.size(), 0), targets(file.images.size(), 0);  // boxes per image
  std::size_t first_skipped = file.annotations.size();
  for (std::size_t i = 0; i < file.annotations.size(); ++i) {
    const AnnotationEntry& a = file.annotations[i];
    if (too_small(a, options.min_box_side)) {
      if (report.skipped_small_boxes++ == 0) first_skipped = i;
      continue;
    }
    ++kept[static_cast<std::size_t>(a.image)];
    targets[static_cast<std::size_t>(a.image)] += a.iscrowd == 0 ? 1 : 0;
  }
  if (report.skipped_small_boxes > 0) {
    const AnnotationEntry& a = file.annotations[first_skipped];
    const float side = options.min_box_side;
    report.warnings.push_back(str_cat(data.path, ": skipped ", report.skipped_small_boxes, " of ", report.annotations,
                                      " boxes with width or height ", side > 0 ? str_cat("< ", side, " px") : "<= 0",
                                      " (first: ", file.annotation_name(first_skipped), ", ", static_cast<float>(a.w),
                                      " x ", static_cast<float>(a.h), ")"));
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
  for (const AnnotationEntry& a : file.annotations) {
    const auto image = static_cast<std::size_t>(a.image);
    if (too_small(a, options.min_box_side) || kept[image] == 0) continue;
    const float w = static_cast<float>(a.w), h = static_cast<float>(a.h);
    const float area = (a.fields & AnnotationEntry::kArea) != 0 ? static_cast<float>(a.area) : w * h;
    data.boxes[cursor[image]++] = {static_cast<float>(a.x), static_cast<float>(a.y), w, h, area, a.label,
                                   static_cast<std::uint8_t>(a.iscrowd), a.id};
    report.crowd_boxes += a.iscrowd;
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
  InstancesFile file = read_instances(io::read_padded_file(path, "COCO annotation file"), path);
  check_images_and_categories(file);
  check_annotations(file);
  file.text.release();  // every check that names a line is done

  Dataset data;
  data.path = path;
  data.categories = std::move(file.categories);
  group_boxes(file, options, data);
  if (options.warnings == Warnings::Print)
    for (const std::string& line : data.report.warnings) std::cerr << line << '\n';
  return data;
}

}  // namespace ghm::coco
