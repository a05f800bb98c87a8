// The COCO evaluator against pycocotools: for every fixture tests/data/cocoeval_<case>.{gt,dt,
// stats}.json made by tools/make_fixtures_cocoeval.py, our 12 numbers, per-class APs, per-IoU APs,
// recall array and per-threshold precision sums agree with COCOeval's, and our summary prints the same
// lines. Then small hand-made cases: perfect detections, a category without detections, crowd
// regions, the readers against the general JSON parser, warnings and error messages.
//
// Tolerance (why): both sides do the same double operations in the same order except the final
// means (numpy sums pairwise, we sum in order), so the numbers agree to ~1e-15; 1e-6 is the
// issue's contract and leaves room for nothing but summation order. The printed summary rounds
// to 3 decimals and is compared as text: a stat within 1e-15 of a rounding boundary would be
// needed to make it differ.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/check.h"
#include "coco/eval.h"
#include "io/json.h"
#include "scratch_dir.h"
#include "test_paths.h"

using namespace ghm;
using namespace ghm::coco;

namespace {

constexpr double kTolerance = 1e-6;

std::vector<std::string> fixture_cases() {
  std::vector<std::string> cases;
  for (const auto& e : std::filesystem::directory_iterator(::ghm::testing::test_data_dir())) {
    const std::string name = e.path().filename().string();
    const std::string suffix = ".stats.json";
    if (name.starts_with("cocoeval_") && name.ends_with(suffix)) cases.push_back(name.substr(0, name.size() - suffix.size()));
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

// A ground truth with the given annotations (JSON objects without "id": numbered from 1) on
// images 1..images, categories 1 ("a"), 5 ("b") and 90 ("c").
GroundTruth make_gt(const std::string& annotations, int images = 2) {
  std::string image_list;
  for (int i = 1; i <= images; ++i) image_list += (i > 1 ? "," : "") + str_cat("{\"id\":", i, "}");
  const std::string text = str_cat("{\"images\":[", image_list, "],\"annotations\":[", annotations,
                                   "],\"categories\":[{\"id\":1,\"name\":\"a\"},{\"id\":5,\"name\":\"b\"},"
                                   "{\"id\":90,\"name\":\"c\"}]}");
  return parse_ground_truth(text, "gt.json");
}

std::string ann(int id, int image, int category, const std::string& box, double area, int crowd = 0) {
  return str_cat("{\"id\":", id, ",\"image_id\":", image, ",\"category_id\":", category, ",\"bbox\":", box,
                 ",\"area\":", area, ",\"iscrowd\":", crowd, "}");
}

std::string det(int image, int category, const std::string& box, double score) {
  return str_cat("{\"image_id\":", image, ",\"category_id\":", category, ",\"bbox\":", box, ",\"score\":", score, "}");
}

EvalResult evaluate(const GroundTruth& gt, const std::string& results) {
  return evaluate_bbox(gt, parse_detections(results, "dt.json", gt));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("coco eval: agrees with pycocotools on every fixture") {
  const std::vector<std::string> cases = fixture_cases();
  REQUIRE(cases.size() >= 5);
  for (const std::string& c : cases) {
    CAPTURE(c);
    const std::string base = ::ghm::testing::test_data_dir() + "/" + c;
    const GroundTruth gt = load_ground_truth(base + ".gt.json");
    const Detections dt = load_detections(base + ".dt.json", gt);
    const EvalResult r = evaluate_bbox(gt, dt);
    const io::Json ref = io::Json::parse(testing::read_file(base + ".stats.json"), base + ".stats.json");

    double max_diff = 0;
    const io::Json& stats = ref.at("stats");
    REQUIRE(stats.size() == 12);
    for (std::size_t i = 0; i < 12; ++i) max_diff = std::max(max_diff, std::abs(r.stats[i] - stats.at(i).as_double()));
    CHECK(format_summary(r.stats) == ref.at("summary").as_string());

    const io::Json& per_class = ref.at("per_class");
    REQUIRE(per_class.size() == gt.categories.size());
    for (std::size_t k = 0; k < gt.categories.size(); ++k) {
      const io::Json& entry = per_class.at(std::to_string(gt.categories[k].id));
      CHECK(entry.at("name").as_string() == gt.categories[k].name);
      max_diff = std::max(max_diff, std::abs(r.per_class_ap[k] - entry.at("ap").as_double()));
    }

    // recall [T][K][A][M] and the precision summed over R, [T][K][A][M].
    double max_array_diff = 0;
    const std::size_t K = gt.categories.size();
    const io::Json& recall = ref.at("recall");
    const io::Json& precision_sum = ref.at("precision_sum");
    for (std::size_t t = 0; t < kNumIouThresholds; ++t)
      for (std::size_t k = 0; k < K; ++k)
        for (std::size_t a = 0; a < kNumAreaRanges; ++a)
          for (std::size_t m = 0; m < kNumMaxDets; ++m) {
            const double rc = r.recall[((t * K + k) * kNumAreaRanges + a) * kNumMaxDets + m];
            max_array_diff = std::max(max_array_diff, std::abs(rc - recall.at(t).at(k).at(a).at(m).as_double()));
            double sum = 0;
            for (std::size_t rr = 0; rr < kNumRecallThresholds; ++rr)
              sum += r.precision[(((t * kNumRecallThresholds + rr) * K + k) * kNumAreaRanges + a) * kNumMaxDets + m];
            max_array_diff =
                std::max(max_array_diff, std::abs(sum - precision_sum.at(t).at(k).at(a).at(m).as_double()));
          }
    // AP at each IoU threshold: pycocotools' _summarize(1, iouThr=t), the mean of precision[t, :, k, all, 100]
    // over the categories with ground truth (a category without has all 101 entries at -1).
    for (std::size_t t = 0; t < kNumIouThresholds; ++t) {
      double sum = 0;
      int defined = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double s = precision_sum.at(t).at(k).at(0).at(kNumMaxDets - 1).as_double();
        if (s > -kNumRecallThresholds + 0.5) sum += s, ++defined;
      }
      const double expected = defined == 0 ? -1.0 : sum / (defined * kNumRecallThresholds);
      max_diff = std::max(max_diff, std::abs(r.ap_per_iou[t] - expected));
    }
    CHECK(r.ap_per_iou[0] == r.stats[1]);  // the same slice as AP50 and AP75
    CHECK(r.ap_per_iou[5] == r.stats[2]);
    MESSAGE(c, ": max |ours - pycocotools|: stats, per-class and per-IoU AP ", max_diff, ", recall and precision sums ",
            max_array_diff);
    CHECK(max_diff <= kTolerance);
    CHECK(max_array_diff <= kTolerance);
  }
}

TEST_CASE("coco eval: the result does not depend on the thread count") {
  const std::string base = ::ghm::testing::test_data_dir() + "/cocoeval_random_float";
  const GroundTruth gt = load_ground_truth(base + ".gt.json");
  const Detections dt = load_detections(base + ".dt.json", gt);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const EvalResult one = evaluate_bbox(gt, dt);
  omp_set_num_threads(std::max(threads, 3));
  const EvalResult many = evaluate_bbox(gt, dt);
  omp_set_num_threads(threads);
  CHECK(one.precision == many.precision);  // bit for bit: every value is computed by one thread
  CHECK(one.recall == many.recall);
  CHECK(one.stats == many.stats);
}

TEST_CASE("coco eval: perfect detections give AP 1 where there is ground truth, -1 elsewhere") {
  // Image 1: a small and a large box of category 1; image 2: a medium box of category 5.
  const GroundTruth gt = make_gt(ann(1, 1, 1, "[10,10,20,20]", 400) + "," + ann(2, 1, 1, "[100,100,200,150]", 30000) +
                                     "," + ann(3, 2, 5, "[0,0,50,50]", 2500));
  const EvalResult r = evaluate(gt, "[" + det(1, 1, "[10,10,20,20]", 0.9) + "," + det(1, 1, "[100,100,200,150]", 0.8) +
                                            "," + det(2, 5, "[0,0,50,50]", 0.7) + "]");
  for (std::size_t i = 0; i < 12; ++i) {
    CAPTURE(i);
    if (i == 6) CHECK(r.stats[i] == doctest::Approx(0.75));  // AR@1: category 1 finds 1 of 2, category 5 1 of 1
    else CHECK(r.stats[i] == doctest::Approx(1.0));
  }
  REQUIRE(r.per_class_ap.size() == 3);
  CHECK(r.per_class_ap[0] == doctest::Approx(1.0));
  CHECK(r.per_class_ap[1] == doctest::Approx(1.0));
  CHECK(r.per_class_ap[2] == -1.0);  // category 90: no ground truth
}

TEST_CASE("coco eval: a category without detections has AP 0, one without ground truth -1") {
  const GroundTruth gt = make_gt(ann(1, 1, 1, "[10,10,50,50]", 2500) + "," + ann(2, 1, 5, "[100,100,50,50]", 2500));
  const EvalResult r = evaluate(gt, "[" + det(1, 1, "[10,10,50,50]", 0.9) + "," + det(2, 90, "[0,0,9,9]", 0.8) + "]");
  CHECK(r.per_class_ap[0] == doctest::Approx(1.0));
  CHECK(r.per_class_ap[1] == 0.0);
  CHECK(r.per_class_ap[2] == -1.0);
  CHECK(r.stats[0] == doctest::Approx(0.5));  // the mean over the two categories with ground truth
  CHECK(r.stats[3] == -1.0);                  // no small ground truth at all
  CHECK(r.stats[5] == -1.0);                  // nor large
}

TEST_CASE("coco eval: a detection inside a crowd region is ignored, not a false positive") {
  // IoU with a crowd box is intersection / detection area: the small box inside the big crowd
  // region has IoU 1 with it even though their union-based IoU is 0.01.
  const std::string gt_boxes = ann(1, 1, 1, "[0,0,40,40]", 1600) + ",";
  const std::string results = "[" + det(1, 1, "[200,200,30,30]", 0.95) + "," + det(1, 1, "[0,0,40,40]", 0.9) + "]";
  const EvalResult crowd = evaluate(make_gt(gt_boxes + ann(2, 1, 1, "[100,100,300,300]", 90000, 1)), results);
  const EvalResult plain = evaluate(make_gt(gt_boxes + ann(2, 1, 1, "[100,100,300,300]", 90000, 0)), results);
  CHECK(crowd.stats[0] == doctest::Approx(1.0));
  CHECK(plain.stats[0] < 0.6);  // now the top-scoring detection is a false positive, and a box is missed
  // A detection half inside the crowd region: IoU 0.5 with it, matched (ignored) up to t = 0.5.
  const EvalResult half =
      evaluate(make_gt(gt_boxes + ann(2, 1, 1, "[100,100,300,300]", 90000, 1)),
               "[" + det(1, 1, "[80,200,40,30]", 0.95) + "," + det(1, 1, "[0,0,40,40]", 0.9) + "]");
  CHECK(half.stats[1] == doctest::Approx(1.0));  // AP50: ignored
  CHECK(half.stats[2] < 1.0);                    // AP75: a false positive ranked first
}

TEST_CASE("coco eval: results in any JSON layout read as the general JSON parser reads them") {
  const GroundTruth gt = make_gt(ann(1, 1, 1, "[10,10,50,50]", 2500));
  // Keys in any order, other keys of every kind (nested, escaped, non-ASCII), numbers in every form.
  const std::string text = "[ {\"image_id\": 1, \"category_id\": 1, \"bbox\": [10.5, 1e1, 50, 49.75], \"score\": 0.25,"
                           " \"id\": 7, \"tag\": \"\\u00e9\\\"\\ud83d\\ude00\", \"flag\": true, \"area\": [1, {\"k\": [null]}]},\n"
                           "  {\"score\": -0, \"bbox\": [0,0,1,1], \"category_id\": 9E1, \"\\u00e9\": \"\xC3\xA9\", \"image_id\": 2.0},\n"
                           "  {\"image_id\": 1, \"category_id\": 5, \"bbox\": [0.1, 2.5e-1, 1.7976931348623157e308, 3],"
                           " \"score\": 0.30000000000000004} ]";
  const Detections dt = parse_detections(text, "a.json", gt);
  const io::Json doc = io::Json::parse(text, "a.json");
  REQUIRE(dt.detections.size() == doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    CAPTURE(i);
    const Detection& d = dt.detections[i];
    const io::Json& j = doc.at(i);
    CHECK(gt.image_ids[static_cast<std::size_t>(d.image)] == j.at("image_id").as_int());
    CHECK(gt.categories[static_cast<std::size_t>(d.category)].id == j.at("category_id").as_int());
    // Both convert the same literal with from_chars, so the doubles are the same bits.
    CHECK(d.box.x == j.at("bbox").at(0).as_double());
    CHECK(d.box.y == j.at("bbox").at(1).as_double());
    CHECK(d.box.w == j.at("bbox").at(2).as_double());
    CHECK(d.box.h == j.at("bbox").at(3).as_double());
    CHECK(d.score == j.at("score").as_double());
  }
  CHECK(dt.detections[0].box.y == 10.0);
  CHECK(dt.detections[1].category == 2);  // index of id 90
  CHECK(dt.detections[1].image == 1);
  CHECK(std::signbit(dt.detections[1].score));
}

TEST_CASE("coco eval: the ground truth holds every annotation as the general JSON parser reads it") {
  // On every fixture: ids, boxes and areas exactly (the same doubles), crowd flags, image and
  // category order, against io::Json's reading of the same file.
  for (const std::string& c : fixture_cases()) {
    CAPTURE(c);
    const std::string path = ::ghm::testing::test_data_dir() + "/" + c + ".gt.json";
    const GroundTruth gt = load_ground_truth(path);
    const io::Json doc = io::Json::parse(testing::read_file(path), path);
    std::vector<std::int64_t> image_ids;
    for (const io::Json& image : doc.at("images").as_array()) image_ids.push_back(image.at("id").as_int());
    std::sort(image_ids.begin(), image_ids.end());
    CHECK(gt.image_ids == image_ids);
    const io::Json::Array& categories = doc.at("categories").as_array();
    REQUIRE(gt.categories.size() == categories.size());
    for (std::size_t k = 0; k < gt.categories.size(); ++k) {
      CHECK(gt.categories[k].label == static_cast<std::int32_t>(k));
      if (k > 0) CHECK(gt.categories[k - 1].id < gt.categories[k].id);
    }
    const io::Json::Array& annotations = doc.at("annotations").as_array();
    REQUIRE(gt.annotations.size() == annotations.size());
    for (std::size_t i = 0; i < annotations.size(); ++i) {
      const Annotation& a = gt.annotations[i];
      const io::Json& j = annotations[i];
      CHECK(a.id == j.at("id").as_int());
      CHECK(gt.image_ids[static_cast<std::size_t>(a.image)] == j.at("image_id").as_int());
      CHECK(gt.categories[static_cast<std::size_t>(a.category)].id == j.at("category_id").as_int());
      CHECK(a.box.x == j.at("bbox").at(0).as_double());
      CHECK(a.box.y == j.at("bbox").at(1).as_double());
      CHECK(a.box.w == j.at("bbox").at(2).as_double());
      CHECK(a.box.h == j.at("bbox").at(3).as_double());
      CHECK(a.area == j.at("area").as_double());
      CHECK(a.crowd == (j.at("iscrowd").as_int() != 0));
    }
  }
}

TEST_CASE("coco eval: the training and evaluation views of a fixture hold the same boxes") {
  for (const std::string& c : fixture_cases()) {
    CAPTURE(c);
    const std::string path = ::ghm::testing::test_data_dir() + "/" + c + ".gt.json";
    const GroundTruth gt = load_ground_truth(path);
    LoadOptions quiet;
    quiet.warnings = Warnings::Collect;
    const Dataset data = load_dataset(path, quiet);
    REQUIRE(data.boxes.size() == gt.annotations.size());  // the fixtures have no box under 1 px
    std::map<std::int64_t, const Annotation*> by_id;
    for (const Annotation& a : gt.annotations) by_id[a.id] = &a;
    for (const ImageRecord& image : data.images) {
      for (const BoxRecord& b : data.boxes_of(image)) {
        const Annotation& a = *by_id.at(b.id);
        CHECK(gt.image_ids[static_cast<std::size_t>(a.image)] == image.id);
        CHECK(a.category == b.label);  // both index the categories in ascending id order
        CHECK(b.x == static_cast<float>(a.box.x));
        CHECK(b.y == static_cast<float>(a.box.y));
        CHECK(b.w == static_cast<float>(a.box.w));
        CHECK(b.h == static_cast<float>(a.box.h));
        CHECK(b.area == static_cast<float>(a.area));
        CHECK((b.iscrowd != 0) == a.crowd);
      }
    }
  }
}

TEST_CASE("coco eval: the ground truth view keeps what the training view would refuse") {
  // Images with only an id, a category without a name, iscrowd 2 (pycocotools: crowd), boxes
  // thinner than 1 px, exact 64-bit ids: all kept, as pycocotools keeps them.
  const std::string text =
      "{\"images\":[{\"id\":9007199254740993}],\"categories\":[{\"id\":1}],\"annotations\":["
      "{\"id\":9223372036854775807,\"image_id\":9007199254740993,\"category_id\":1,\"bbox\":[0,0,0.5,5],"
      "\"area\":2.5,\"iscrowd\":2},"
      "{\"id\":2,\"image_id\":9007199254740993,\"category_id\":1,\"bbox\":[0,0,5,5],\"area\":1e-3,\"iscrowd\":false}]}";
  const GroundTruth gt = parse_ground_truth(text, "gt.json");
  REQUIRE(gt.image_ids.size() == 1);
  CHECK(gt.image_ids[0] == 9007199254740993LL);
  REQUIRE(gt.categories.size() == 1);
  CHECK(gt.categories[0].name.empty());
  REQUIRE(gt.annotations.size() == 2);
  CHECK(gt.annotations[0].id == 9223372036854775807LL);
  CHECK(gt.annotations[0].crowd);
  CHECK(gt.annotations[0].box.w == 0.5);
  CHECK_FALSE(gt.annotations[1].crowd);
  CHECK(gt.annotations[1].area == 1e-3);
}

TEST_CASE("coco eval: warnings count dropped and degenerate detections and ignore flags") {
  const GroundTruth gt = make_gt(ann(1, 1, 1, "[10,10,50,50]", 2500) + "," +
                                     "{\"id\":2,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,5,5],\"area\":25,"
                                     "\"iscrowd\":0,\"ignore\":1}," +
                                     ann(3, 7, 1, "[0,0,5,5]", 25) + "," + ann(4, 1, 2, "[0,0,5,5]", 25));
  REQUIRE(gt.warnings.size() == 3);
  CHECK(gt.warnings[0].find("1 annotation(s) on image ids missing") != std::string::npos);
  CHECK(gt.warnings[0].find("image_id 7 at $.annotations[2]") != std::string::npos);
  CHECK(gt.warnings[1].find("category_id 2 at $.annotations[3]") != std::string::npos);
  CHECK(gt.warnings[2].find("'ignore', which has no effect") != std::string::npos);
  CHECK(gt.annotations.size() == 2);

  const Detections dt = parse_detections(
      "[" + det(1, 3, "[0,0,5,5]", 0.5) + "," + det(1, 4, "[0,0,5,5]", 0.5) + "," + det(1, 1, "[0,0,0,5]", 0.5) + "," +
          det(1, 1, "[0,0,-1,-1]", 0.5) + "," + det(1, 1, "[0,0,5,5]", 0.5) + "]",
      "dt.json", gt);
  REQUIRE(dt.warnings.size() == 2);
  CHECK(dt.warnings[0].find("dt.json: 2 detection(s) with category ids not in the ground truth were dropped") == 0);
  CHECK(dt.warnings[0].find("category_id 3 at $[0]") != std::string::npos);
  CHECK(dt.warnings[1].find("dt.json: 2 detection(s) with a non-positive width or height are kept") == 0);
  CHECK(dt.detections.size() == 3);
}

TEST_CASE("coco eval: errors name the file, the detection and the problem") {
  const GroundTruth gt = make_gt(ann(1, 1, 1, "[10,10,50,50]", 2500));
  const auto dt_error = [&](const std::string& text) { return error_of([&] { parse_detections(text, "dt.json", gt); }); };
  const std::string good = det(1, 1, "[0,0,5,5]", 0.5);
  // A results file, and how its error message starts.
  const std::pair<std::string, std::string> bad_results[] = {
      {"[" + good + "," + det(3, 1, "[0,0,5,5]", 0.5) + "]",
       "dt.json: detection 1 ($[1]) has image_id 3, which is not an image of gt.json"},
      {"[]", "dt.json: no detections"},
      {"[" + good + ",{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,5,5]}]",
       "dt.json at $[1]: missing key \"score\""},
      {"[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,5],\"score\":1}]",
       "dt.json at $[0].bbox: a bbox is [x, y, width, height], got 3 values"},
      {"[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,5,5],\"score\":\"high\"}]",
       "dt.json at $[0].score: expected a number, got a string"},
      {"[{\"image_id\":1.5,\"category_id\":1,\"bbox\":[0,0,5,5],\"score\":1}]",
       "dt.json at $[0].image_id: expected an integer"},
      {"[" + good + ",{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,5,5],\"score\":NaN}]",
       "dt.json: detection 1 ($[1].score) holds NaN or Infinity"},
      {"[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,-Infinity,5,5],\"score\":1}]",
       "dt.json: detection 0 ($[0].bbox) holds NaN or Infinity"},
      {"[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,5,5],\"score\":1e400}]", "invalid JSON in dt.json at line 1"},
      {"[" + good + ",\n{\"image_id\":1,}]", "invalid JSON in dt.json at line 2, column 15"},
      {"{\"image_id\":1}", "dt.json: a COCO results file is a JSON array"},
  };
  for (const auto& [text, start] : bad_results) {
    CAPTURE(text);
    CHECK(dt_error(text).find(start) == 0);
  }
  std::string e = dt_error("[{\"image_id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,5,5],\"score\":1}]");
  CHECK(e.find("duplicate key \"image_id\"") != std::string::npos);

  const auto gt_error = [](const std::string& text) { return error_of([&] { parse_ground_truth(text, "gt.json"); }); };
  // A ground-truth file, and how its error message starts.
  const std::pair<std::string, std::string> bad_ground_truth[] = {
      {"{\"images\":[],\"annotations\":[]}", "gt.json: \"categories\" is missing"},
      {"{\"images\":[{\"id\":1}],\"categories\":[{\"id\":1}],\"annotations\":[{\"id\":1,\"image_id\":1,"
       "\"category_id\":1,\"bbox\":[0,0,5,5],\"iscrowd\":0}]}",
       "gt.json: annotations[0] (id 1).area: missing (the evaluator needs it"},
      {"{\"images\":[{\"id\":1},{\"id\":1}],\"categories\":[],\"annotations\":[]}",
       "gt.json: images[1]: image id 1 appears twice (also images[0]) (line 1, column 21)"},
      {"{\"images\": [}", "invalid JSON in gt.json at line 1, column 13"},
  };
  for (const auto& [text, start] : bad_ground_truth) {
    CAPTURE(text);
    CHECK(gt_error(text).find(start) == 0);
  }
  e = error_of([] { make_gt(ann(4, 1, 1, "[0,0,5,5]", 25) + "," + ann(4, 2, 1, "[0,0,5,5]", 25)); });
  CHECK(e.find("gt.json: annotations[1]: annotation id 4 appears twice (also annotations[0])") == 0);

  e = error_of([] { load_ground_truth("/nonexistent/instances.json"); });
  CHECK(e.find("cannot open COCO ground-truth file '/nonexistent/instances.json'") == 0);
  e = error_of([&] { load_detections("/nonexistent/results.json", gt); });
  CHECK(e.find("cannot open COCO results file '/nonexistent/results.json'") == 0);
}

TEST_CASE("coco eval: the summary has pycocotools' layout") {
  std::array<double, 12> stats{};
  stats.fill(-1.0);
  stats[0] = 0.3565;
  const std::string s = format_summary(stats);
  CHECK(s.find(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.356\n") == 0);
  CHECK(s.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = -1.000\n") !=
        std::string::npos);
  CHECK(s.find(" Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = -1.000\n") !=
        std::string::npos);
  CHECK(std::count(s.begin(), s.end(), '\n') == 12);
}
