// Tests for coco/dataset: labels from sparse category ids, the grouping of boxes by image in
// file order, crowd flags, the training rules (boxes under 1 px skipped and counted, images
// without boxes kept or dropped), strings and numbers in every JSON form, one malformed file per
// error (each message must name the file and the element), and the counts of the COCO fixtures
// in tests/data against what Python's json module reads from them.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "coco/dataset.h"
#include "scratch_dir.h"
#include "test_paths.h"

using ghm::testing::ScratchDir;
using namespace ghm::coco;

namespace {

LoadOptions quiet(LoadOptions options = {}) {
  options.warnings = Warnings::Collect;
  return options;
}

// A COCO document from the three arrays' contents.
std::string coco(const std::string& images, const std::string& annotations, const std::string& categories) {
  return R"({"images": [)" + images + R"(], "annotations": [)" + annotations + R"(], "categories": [)" + categories +
         "]}";
}

const std::string kImage1 = R"({"id": 1, "file_name": "a.jpg", "width": 640, "height": 480})";
const std::string kCategory3 = R"({"id": 3, "name": "cat"})";

std::string annotation(int id, int image_id, int category_id, const std::string& bbox = "[1, 2, 30, 40]") {
  return R"({"id": )" + std::to_string(id) + R"(, "image_id": )" + std::to_string(image_id) +
         R"(, "category_id": )" + std::to_string(category_id) + R"(, "bbox": )" + bbox + "}";
}

Dataset load(const std::string& text, const LoadOptions& options = quiet()) {
  ScratchDir dir("coco_dataset");
  return load_dataset(dir.write("case.json", text), options);
}

// The message of the ghm::Error that loading `text` (from a file named case.json) throws.
std::string load_error(const std::string& text) {
  try {
    load(text);
  } catch (const ghm::Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("coco dataset: sparse category ids become contiguous labels, boxes grouped by image in file order") {
  // Categories out of order with gaps; annotations interleaved across images; extra keys at every
  // level (polygons, an RLE mask, info, licenses, nested values) are skipped.
  const std::string text = R"({
  "info": {"description": "test", "nested": [{"a": [1, 2, {"b": null}]}, true, false, -0.5e-3]},
  "licenses": [{"id": 1, "name": "x", "url": "http://example.com"}],
  "images": [
    {"license": 1, "id": 7, "file_name": "seven.jpg", "width": 640, "height": 480, "coco_url": "u"},
    {"id": 3, "file_name": "three.jpg", "width": 320, "height": 240},
    {"id": 9, "file_name": "nine.jpg", "width": 100, "height": 50}
  ],
  "annotations": [
    {"segmentation": [[1.5, 2.25, 3, 4, 5, 6]], "area": 11.5, "iscrowd": 0, "image_id": 3, "bbox": [1, 2, 3, 4],
     "category_id": 90, "id": 100},
    {"segmentation": {"counts": [5, 3, 2], "size": [240, 320]}, "area": 600, "iscrowd": 1, "image_id": 7,
     "bbox": [10, 20, 30, 20], "category_id": 1, "id": 101},
    {"image_id": 3, "bbox": [5.5, 6.5, 7.25, 8], "category_id": 17, "id": 102, "ignore": 0, "extra": {"k": []}},
    {"image_id": 7, "bbox": [0, 0, 2, 2], "category_id": 17, "id": 103, "iscrowd": false, "area": 4}
  ],
  "categories": [{"supercategory": "s", "id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"},
                 {"id": 17, "name": "cat"}]
})";
  const Dataset data = load(text);
  REQUIRE(data.categories.size() == 3);
  CHECK(data.num_classes() == 3);
  CHECK(data.categories[0].id == 1);
  CHECK(data.categories[0].name == "person");
  CHECK(data.categories[1].id == 17);
  CHECK(data.categories[2].id == 90);
  CHECK(data.categories[2].name == "toothbrush");
  for (std::int32_t label = 0; label < 3; ++label) {
    CHECK(data.categories[static_cast<std::size_t>(label)].label == label);
    CHECK(data.label_of(data.category_id(label)) == label);
  }
  CHECK(data.label_of(5) == -1);
  CHECK_THROWS_WITH_AS(data.category_id(3), doctest::Contains("label 3 is out of range [0, 3)"), ghm::Error);

  REQUIRE(data.images.size() == 3);
  CHECK(data.images[0].id == 7);
  CHECK(data.images[0].file_name == "seven.jpg");
  CHECK(data.images[0].width == 640);
  CHECK(data.images[0].height == 480);
  CHECK(data.images[1].id == 3);
  CHECK(data.images[2].id == 9);
  CHECK(data.images[2].num_boxes == 0);

  REQUIRE(data.boxes.size() == 4);
  std::vector<std::int64_t> order;
  for (const auto& image : data.images)
    for (const BoxRecord& box : data.boxes_of(image)) order.push_back(box.id);
  CHECK(order == std::vector<std::int64_t>{101, 103, 100, 102});
  CHECK(data.images[0].first_box == 0);
  CHECK(data.images[0].num_boxes == 2);
  CHECK(data.images[1].first_box == 2);
  CHECK(data.images[1].num_boxes == 2);

  const BoxRecord& crowd = data.boxes[0];
  CHECK(crowd.iscrowd == 1);
  CHECK(crowd.label == 0);  // category 1
  CHECK(crowd.area == 600.0f);  // integers of this size are exact in float
  const BoxRecord& b102 = data.boxes[3];
  CHECK(b102.iscrowd == 0);
  CHECK(b102.label == 1);  // category 17
  CHECK(b102.x == 5.5f);
  CHECK(b102.y == 6.5f);
  CHECK(b102.w == 7.25f);
  CHECK(b102.h == 8.0f);
  CHECK(b102.area == 58.0f);  // no "area": w * h, exact for these dyadic values
  CHECK(data.boxes[2].area == 11.5f);
  CHECK(data.boxes[2].label == 2);  // category 90

  CHECK(data.report.annotations == 4);
  CHECK(data.report.crowd_boxes == 1);
  CHECK(data.report.skipped_small_boxes == 0);
  CHECK(data.report.images_without_boxes == 1);  // image 9
  CHECK(data.report.dropped_images == 0);
  CHECK(data.report.warnings.empty());
}

TEST_CASE("coco dataset: images without non-crowd boxes are kept as negatives or dropped") {
  const std::string images = kImage1 + R"(, {"id": 2, "file_name": "b.jpg", "width": 10, "height": 10},
                                          {"id": 3, "file_name": "c.jpg", "width": 10, "height": 10},
                                          {"id": 4, "file_name": "d.jpg", "width": 10, "height": 10})";
  // Image 1: a box; image 2: nothing; image 3: only a crowd box; image 4: only a box under 1 px.
  const std::string annotations =
      annotation(1, 1, 3) + ", " + R"({"id": 2, "image_id": 3, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1})" +
      ", " + annotation(3, 4, 3, "[0, 0, 0.5, 5]");
  const std::string text = coco(images, annotations, kCategory3);

  const Dataset kept = load(text);
  REQUIRE(kept.images.size() == 4);
  CHECK(kept.images[1].num_boxes == 0);
  CHECK(kept.images[2].num_boxes == 1);  // the crowd box stays with its image
  CHECK(kept.images[3].num_boxes == 0);
  CHECK(kept.boxes.size() == 2);
  CHECK(kept.report.images_without_boxes == 3);
  CHECK(kept.report.dropped_images == 0);
  CHECK(kept.report.crowd_boxes == 1);

  LoadOptions drop = quiet();
  drop.empty_images = EmptyImages::Drop;
  const Dataset dropped = load(text, drop);
  REQUIRE(dropped.images.size() == 1);
  CHECK(dropped.images[0].id == 1);
  REQUIRE(dropped.boxes.size() == 1);
  CHECK(dropped.boxes[0].id == 1);
  CHECK(dropped.report.images_without_boxes == 3);
  CHECK(dropped.report.dropped_images == 3);
  CHECK(dropped.report.crowd_boxes == 0);
  CHECK(dropped.report.skipped_small_boxes == 1);
}

TEST_CASE("coco dataset: crowd flags 0, 1, false and true") {
  const std::string annotations =
      R"({"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1},
         {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": true},
         {"id": 3, "image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 0},
         {"id": 4, "image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": false},
         {"id": 5, "image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5]})";
  const Dataset data = load(coco(kImage1, annotations, kCategory3));
  REQUIRE(data.boxes.size() == 5);
  std::vector<int> flags;
  for (const BoxRecord& b : data.boxes) flags.push_back(b.iscrowd);
  CHECK(flags == std::vector<int>{1, 1, 0, 0, 0});
  CHECK(data.report.crowd_boxes == 2);
  CHECK(contains(load_error(coco(kImage1, R"({"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5],
                                              "iscrowd": 2})", kCategory3)),
                 "annotations[0] (id 1).iscrowd: expected 0, 1, false or true, got 2"));
  CHECK(contains(load_error(coco(kImage1, R"({"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5],
                                              "iscrowd": "yes"})", kCategory3)),
                 "annotations[0] (id 1).iscrowd: expected 0, 1, false or true, got a string"));
}

TEST_CASE("coco dataset: boxes narrower or shorter than min_box_side are skipped and counted in one warning") {
  const std::string annotations = annotation(1, 1, 3, "[0, 0, 0.5, 5]") + ", " + annotation(2, 1, 3, "[0, 0, 5, 0]") +
                                  ", " + annotation(3, 1, 3, "[0, 0, -2, 5]") + ", " +
                                  annotation(4, 1, 3, "[0, 0, 1, 1]") + ", " + annotation(5, 1, 3, "[0, 0, 5, 0.999]");
  const std::string text = coco(kImage1, annotations, kCategory3);
  ScratchDir dir("coco_dataset");
  const std::string path = dir.write("small.json", text);

  const Dataset data = load_dataset(path, quiet());
  REQUIRE(data.boxes.size() == 1);
  CHECK(data.boxes[0].id == 4);  // exactly 1 px is kept, as in mmdetection (w < 1 or h < 1 is dropped)
  CHECK(data.report.skipped_small_boxes == 4);
  REQUIRE(data.report.warnings.size() == 1);
  const std::string& warning = data.report.warnings[0];
  CHECK(warning.starts_with(path + ": skipped 4 of 5 boxes with width or height < 1 px"));
  CHECK(contains(warning, "first: annotations[0] (id 1), 0.5 x 5"));

  LoadOptions lenient = quiet();
  lenient.min_box_side = 0.0f;  // non-positive sides are always skipped
  const Dataset kept = load_dataset(path, lenient);
  CHECK(kept.boxes.size() == 3);
  CHECK(kept.report.skipped_small_boxes == 2);
  REQUIRE(kept.report.warnings.size() == 1);
  CHECK(contains(kept.report.warnings[0], "skipped 2 of 5 boxes with width or height <= 0 (first: annotations[1]"));

  lenient.min_box_side = -1.0f;
  CHECK_THROWS_WITH_AS(load_dataset(path, lenient), doctest::Contains("min_box_side must be a finite number >= 0"),
                       ghm::Error);
}

TEST_CASE("coco dataset: escaped and non-ASCII strings, escaped keys") {
  // A quote, backslash, slash, tab, é as an escape, a surrogate pair (U+1F600), raw UTF-8 (日本),
  // and a key written with an escape ("\u0069d" is "id").
  const std::string images =
      R"({"\u0069d": 1, "file_name": "caf\u00e9 \"q\" \\ \/ \t \ud83d\ude00 )" "\xE6\x97\xA5\xE6\x9C\xAC" R"(.jpg",
          "width": 10, "height": 10})";
  const Dataset data = load(coco(images, annotation(1, 1, 3), R"({"id": 3, "name": "caf\u00E9"})"));
  REQUIRE(data.images.size() == 1);
  CHECK(data.images[0].id == 1);
  CHECK(data.images[0].file_name ==
        "caf\xC3\xA9 \"q\" \\ / \t \xF0\x9F\x98\x80 \xE6\x97\xA5\xE6\x9C\xAC.jpg");
  CHECK(data.categories[0].name == "caf\xC3\xA9");
}

TEST_CASE("coco dataset: numbers in exponent form, integer-valued numbers as integers") {
  const std::string text = coco(R"({"id": 1e1, "file_name": "a.jpg", "width": 6.4E2, "height": 480.0})",
                                R"({"id": 1, "image_id": 10, "category_id": 3, "bbox": [1e1, 2.5E-1, 3.0e+2, 4e0],
                                    "area": 1.2e3})",
                                kCategory3);
  const Dataset data = load(text);
  REQUIRE(data.images.size() == 1);
  CHECK(data.images[0].id == 10);
  CHECK(data.images[0].width == 640);
  CHECK(data.images[0].height == 480);
  REQUIRE(data.boxes.size() == 1);
  const BoxRecord& b = data.boxes[0];
  CHECK(b.x == 10.0f);
  CHECK(b.y == 0.25f);
  CHECK(b.w == 300.0f);
  CHECK(b.h == 4.0f);
  CHECK(b.area == 1200.0f);
  CHECK(contains(load_error(coco(R"({"id": 1.5, "file_name": "a.jpg", "width": 1, "height": 1})", "", "")),
                 "images[0].id: expected an integer that fits in int64, got 1.5"));
  CHECK(contains(load_error(coco(R"({"id": 9223372036854775808, "file_name": "a.jpg", "width": 1, "height": 1})", "",
                                 "")),
                 "expected an integer that fits in int64, got 9223372036854775808"));
  CHECK(contains(load_error(coco(kImage1, annotation(1, 1, 3, "[1e400, 0, 1, 1]"), kCategory3)),
                 "annotations[0] (id 1).bbox[0]: 1e400 is out of the range of a double"));
  CHECK(contains(load_error(coco(kImage1, annotation(1, 1, 3, "[1e300, 0, 1, 1]"), kCategory3)),
                 "annotations[0] (id 1).bbox[0]: 1e+300 is out of the range of a float"));
}

TEST_CASE("coco dataset: malformed JSON is reported with the file, line:column and byte offset") {
  ScratchDir dir("coco_dataset");
  const auto error = [&](const std::string& text) {
    try {
      load_dataset(dir.write("bad.json", text), quiet());
    } catch (const ghm::Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string path = dir.write("bad.json", "");
  const std::string prefix = "invalid JSON in " + path + " at ";

  const std::string valid = coco(kImage1, annotation(1, 1, 3), kCategory3);
  // Truncated: in the middle of a key, and after a complete member.
  CHECK(contains(error(valid.substr(0, 30)), prefix + "line 1, column 31 (byte 30): unterminated string"));
  CHECK(contains(error(valid.substr(0, valid.size() - 1)),
                 prefix + "line 1, column " + std::to_string(valid.size()) + " (byte " +
                     std::to_string(valid.size() - 1) + "): expected ',' or '}' after an object member, got end of input"));
  CHECK(contains(error(""), prefix + "line 1, column 1 (byte 0): expected a value, got end of input"));
  // A bad token on line 3, column 14, inside a skipped polygon.
  const std::string bad_token = "{\"images\": [],\n \"categories\": [],\n \"annotations\": [\n  {\"segmentation\": [[1, 2, tru]]}]}";
  CHECK(contains(error(bad_token), prefix + "line 4, column 28 (byte 79): invalid literal, expected 'true'"));
  CHECK(contains(error(R"({"images": [], "x": [1, 2,]})"), "expected a value, got ']'"));
  // A value that is both mistyped and malformed is reported as malformed.
  CHECK(contains(error(coco(R"({"id": 1, "file_name": "a.jpg", "width": nul, "height": 1})", "", "")),
                 prefix + "line 1, column 54 (byte 53): invalid literal, expected 'null'"));
  CHECK(contains(error(R"({"images": [], "x": 01})"), "numbers must not have leading zeros"));
  CHECK(contains(error(R"({"images": [], "x": 1.})"), "expected a digit after the decimal point, got '}'"));
  CHECK(contains(error(R"({"images": [], "x": NaN})"), "expected a value, got 'N'"));
  CHECK(contains(error(R"({"images": [], "x": "a\qb"})"), "invalid escape sequence \\ followed by 'q'"));
  CHECK(contains(error(R"({"images": [], "x": "\ud800"})"), "high surrogate \\ud800 is not followed by a low surrogate"));
  CHECK(contains(error(R"({"images": [], "x": "\udc00"})"), "lone low surrogate \\udc00"));
  CHECK(contains(error("{\"images\": [], \"x\": \"a\tb\"}"), "control character 0x09 must be escaped"));
  CHECK(contains(error("{\"images\": [], \"x\": \"a\xC3\"}"), "invalid UTF-8 byte 0xC3 in a string"));
  CHECK(contains(error(std::string("{\"images\": []\0}", 15)), "expected ',' or '}' after an object member, got byte 0x00"));
  CHECK(contains(error(valid + " x"), "unexpected 'x' after the JSON value"));
  // Repeated keys, at any level, also where they are escaped differently.
  CHECK(contains(error(coco(R"({"id": 1, "id": 2, "file_name": "a.jpg", "width": 1, "height": 1})", "", "")),
                 prefix + "line 1, column 23 (byte 22): duplicate key \"id\" in the object at $.images[0]"));
  CHECK(contains(error(R"({"images": [], "images": [], "annotations": [], "categories": []})"),
                 "duplicate key \"images\" in the object at $"));
  CHECK(contains(error(R"({"info": {"a\u0062": 1, "ab": 2}, "images": []})"), "duplicate key \"ab\""));
  CHECK(contains(error(R"({"images" [])"), "expected ':' after the key \"images\", got '['"));
  CHECK(contains(error(R"({"x": )" + std::string(300, '[') + std::string(300, ']') + "}"),
                 "nested deeper than 256 levels"));
}

TEST_CASE("coco dataset: missing and mistyped fields name the file and the element") {
  ScratchDir dir("coco_dataset");
  const auto error = [&](const std::string& text) {
    const std::string path = dir.write("fields.json", text);
    try {
      load_dataset(path, quiet());
    } catch (const ghm::Error& e) {
      const std::string message = e.what();
      CHECK(message.starts_with(path + ": "));  // the file comes first, then the element
      return message;
    }
    return std::string("(no error)");
  };
  // The annotation's id comes after the field in question, so it is not known yet.
  CHECK(contains(error(coco(kImage1, R"({"image_id": 1, "category_id": 3, "id": 8})", kCategory3)),
                 "annotations[0] (id 8).bbox: missing (a required field) (line 1, column"));
  CHECK(contains(error(coco(kImage1, annotation(1, 1, 3, "[1, 2, 3]"), kCategory3)),
                 "annotations[0] (id 1).bbox: expected 4 numbers [x, y, width, height], got 3 values"));
  CHECK(contains(error(coco(kImage1, R"({"bbox": [1, 2, 3], "id": 1, "image_id": 1, "category_id": 3})", kCategory3)),
                 "annotations[0].bbox: expected 4 numbers"));  // the id comes later: not known yet
  CHECK(contains(error(coco(kImage1, annotation(1, 1, 3, "[1, 2, 3, 4, 5]"), kCategory3)),
                 "annotations[0] (id 1).bbox: expected 4 numbers [x, y, width, height], got 5 values"));
  CHECK(contains(error(coco(kImage1, annotation(1, 1, 3, "[1, 2, \"3\", 4]"), kCategory3)),
                 "annotations[0] (id 1).bbox[2]: expected a number, got a string"));
  CHECK(contains(error(coco(kImage1, annotation(1, 1, 3, "{\"x\": 1}"), kCategory3)),
                 "annotations[0] (id 1).bbox: expected an array [x, y, width, height], got an object"));
  CHECK(contains(error(coco(R"({"id": 1, "file_name": "a.jpg", "width": "640", "height": 480})", "", kCategory3)),
                 "images[0] (id 1).width: expected an integer, got a string"));
  CHECK(contains(error(coco(R"({"id": 1, "file_name": 5, "width": 640, "height": 480})", "", kCategory3)),
                 "images[0] (id 1).file_name: expected a string, got a number"));
  CHECK(contains(error(coco(R"({"id": 1, "file_name": "a.jpg", "width": -640, "height": 480})", "", kCategory3)),
                 "images[0] (id 1).width: an image side must be in [1, 2^31), got -640"));
  CHECK(contains(error(coco(R"({"id": 1, "file_name": "a.jpg", "width": 640})", "", kCategory3)),
                 "images[0] (id 1).height: missing"));
  CHECK(contains(error(coco(kImage1, "", R"({"id": 3})")), "categories[0] (id 3).name: missing"));
  CHECK(contains(error(coco(kImage1, "", R"({"id": null, "name": "x"})")),
                 "categories[0].id: expected an integer, got null"));
  CHECK(contains(error(coco(kImage1, "[1]", kCategory3)), "annotations[0]: expected an object, got an array"));
  CHECK(contains(error(R"({"images": {}, "annotations": [], "categories": []})"),
                 "images: expected an array, got an object"));
  CHECK(contains(error(R"({"images": [], "categories": []})"), "\"annotations\" is missing"));
  CHECK(contains(error("[]"), "a COCO instances file: expected a JSON object with images, annotations and categories, "
                              "got an array"));
}

TEST_CASE("coco dataset: repeated ids and unknown references name both elements") {
  const std::string image2 = R"({"id": 2, "file_name": "b.jpg", "width": 1, "height": 1})";
  CHECK(contains(load_error(coco(kImage1 + ", " + image2 + ", " + kImage1, "", kCategory3)),
                 "case.json: images[2]: image id 1 appears twice (also images[0])"));
  CHECK(contains(load_error(coco(kImage1, "", R"({"id": 3, "name": "a"}, {"id": 4, "name": "b"}, {"id": 3, "name": "c"})")),
                 "case.json: categories[2]: category id 3 appears twice (also categories[0])"));
  CHECK(contains(load_error(coco(kImage1, annotation(5, 1, 3) + ", " + annotation(6, 1, 3) + ", " + annotation(5, 1, 3),
                                 kCategory3)),
                 "case.json: annotations[2]: annotation id 5 appears twice (also annotations[0])"));
  CHECK(contains(load_error(coco(kImage1, annotation(1, 1, 3) + ", " + annotation(2, 77, 3), kCategory3)),
                 "case.json: annotations[1] (id 2): image_id 77 is not the id of an image in \"images\""));
  CHECK(contains(load_error(coco(kImage1, annotation(1, 1, 4), kCategory3)),
                 "case.json: annotations[0] (id 1): category_id 4 is not the id of a category in \"categories\""));
  CHECK_THROWS_WITH_AS(load_dataset("/nonexistent/instances.json", quiet()),
                       doctest::Contains("cannot open COCO annotation file '/nonexistent/instances.json'"), ghm::Error);
}

TEST_CASE("coco dataset: errors found after the parse name the annotation's line and column") {
  // Annotations before images and categories (their references resolve after the parse), one per
  // line, with nested values before and inside them.
  const auto text = [](const std::string& second, const std::string& third) {
    return "{\"info\": {\"a\": [[1, 2], {\"b\": \"]\"}]},\n\"annotations\": [\n  " + annotation(1, 1, 3) +
           ",\n    " + second + ",\n" + third + "],\n\"images\": [" + kImage1 + "],\n\"categories\": [" + kCategory3 +
           "]}";
  };
  const std::string polygon = R"({"segmentation": [[1, 2, 3, 4, 5, 6]], "id": 3, "image_id": 1, "category_id": 3, )"
                              R"("bbox": [0, 0, 4, 4]})";
  CHECK(contains(load_error(text(annotation(2, 77, 3), polygon)),
                 "case.json: annotations[1] (id 2): image_id 77 is not the id of an image in \"images\" (line 4, "
                 "column 5)"));
  CHECK(contains(load_error(text(annotation(2, 1, 3), annotation(4, 1, 9))),
                 "case.json: annotations[2] (id 4): category_id 9 is not the id of a category in \"categories\" "
                 "(line 5, column 1)"));
  CHECK(contains(load_error(text(polygon, annotation(3, 1, 3))),
                 "case.json: annotations[2]: annotation id 3 appears twice (also annotations[1]) (line 5, column 1)"));
  CHECK(contains(load_error(text(annotation(2, 1, 3, "[0, 0, 1e39, 4]"), polygon)),
                 "case.json: annotations[1] (id 2).bbox[2]: 1e+39 is out of the range of a float (line 4, column 5)"));
  // The first annotation that breaks a rule is the error, whichever rule it breaks.
  CHECK(contains(load_error(text(annotation(2, 1, 3, "[0, 0, 1e39, 4]"), annotation(4, 77, 3))),
                 "annotations[1] (id 2).bbox[2]: 1e+39 is out of the range of a float"));
  CHECK(contains(load_error(text(annotation(2, 77, 3), annotation(4, 1, 3, "[0, 0, 1e39, 4]"))),
                 "annotations[1] (id 2): image_id 77 is not the id of an image"));
}

TEST_CASE("coco dataset: the COCO fixtures of tests/data, counted as Python's json module reads them") {
  // Expected values from Python, json.load on each file: images, annotations,
  // boxes (all have width and height >= 1), crowd boxes, images without a non-crowd box, and
  // three order checks over the boxes grouped by image in file order: sum (i + 1) * num_boxes_i
  // over images, sum (k + 1) * id_k and sum (k + 1) * label_k over boxes; then the sums of the
  // bbox values and of the areas.
  struct Expected {
    const char* name;
    std::size_t images, annotations, boxes;
    std::int64_t crowd, without_boxes, image_order, id_order, label_order;
    double bbox_sum, area_sum;
  };
  const Expected cases[] = {
      {"crowd", 11, 28, 28, 13, 5, 152, 7714, 106, 17158.8, 454283.32},
      {"edge", 4, 12, 12, 1, 0, 25, 572, 100, 4906, 166664.0},
      {"many_dets", 6, 27, 27, 0, 1, 48, 6930, 512, 15679, 158449},
      {"random_float", 22, 59, 59, 6, 5, 659, 70210, 3359, 39985.13, 599063.12},
      {"random_int", 22, 67, 67, 2, 5, 712, 102510, 4666, 45020, 321785.61},
  };
  for (const Expected& e : cases) {
    CAPTURE(e.name);
    const Dataset data =
        load_dataset(::ghm::testing::test_data_dir() + "/cocoeval_" + e.name + ".gt.json", quiet());
    CHECK(data.images.size() == e.images);
    CHECK(data.report.annotations == static_cast<std::int64_t>(e.annotations));
    CHECK(data.boxes.size() == e.boxes);
    CHECK(data.report.crowd_boxes == e.crowd);
    CHECK(data.report.images_without_boxes == e.without_boxes);
    REQUIRE(data.categories.size() == 5);
    const std::int64_t ids[] = {1, 5, 17, 33, 90};
    for (std::size_t c = 0; c < 5; ++c) CHECK(data.categories[c].id == ids[c]);
    std::int64_t image_order = 0, id_order = 0, label_order = 0;
    double bbox_sum = 0, area_sum = 0;
    for (std::size_t i = 0; i < data.images.size(); ++i) image_order += static_cast<std::int64_t>(i + 1) * data.images[i].num_boxes;
    for (std::size_t k = 0; k < data.boxes.size(); ++k) {
      const BoxRecord& b = data.boxes[k];
      id_order += static_cast<std::int64_t>(k + 1) * b.id;
      label_order += static_cast<std::int64_t>(k + 1) * b.label;
      bbox_sum += static_cast<double>(b.x) + b.y + b.w + b.h;
      area_sum += b.area;
    }
    CHECK(image_order == e.image_order);
    CHECK(id_order == e.id_order);
    CHECK(label_order == e.label_order);
    // Values with 2 decimals rounded to float: relative error 6e-8 each, summed over < 300 terms.
    CHECK(bbox_sum == doctest::Approx(e.bbox_sum).epsilon(1e-6));
    CHECK(area_sum == doctest::Approx(e.area_sum).epsilon(1e-6));
  }
}
