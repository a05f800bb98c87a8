// Batch inference, COCO results and in-process evaluation (see inference.h).
#include "engine/inference.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/autograd.h"
#include "core/check.h"
#include "core/precision.h"
#include "engine/distributed.h"
#include "engine/test_time_augmentation.h"
#include "io/output_file.h"

namespace ghm::engine {

void append_image_results(std::int64_t image_id, const detection::ImageDetections& d, const coco::Dataset& dataset,
                          std::vector<CocoResult>& out) {
  const float* box = d.boxes.data<float>();  // [D, 4] x1, y1, x2, y2
  for (std::int64_t j = 0; j < d.scores.numel(); ++j) {
    CocoResult r;
    r.image_id = image_id;
    r.category_id = dataset.category_id(static_cast<std::int32_t>(d.labels.data<std::int64_t>()[j]));
    r.x = box[4 * j];
    r.y = box[4 * j + 1];
    r.w = box[4 * j + 2] - box[4 * j];
    r.h = box[4 * j + 3] - box[4 * j + 1];
    r.score = d.scores.data<float>()[j];
    out.push_back(r);
  }
}

void append_results(const io::Batch& batch, const std::vector<detection::ImageDetections>& detections,
                    const coco::Dataset& dataset, std::vector<CocoResult>& out) {
  for (std::size_t i = 0; i < detections.size(); ++i)
    append_image_results(batch.samples[i].image_id, detections[i], dataset, out);
}

void write_results_json(const std::string& path, const std::vector<CocoResult>& results) {
  std::string text = "[";
  char line[256];
  for (std::size_t i = 0; i < results.size(); ++i) {
    const CocoResult& r = results[i];
    std::snprintf(line, sizeof line,
                  "%s\n{\"image_id\": %lld, \"category_id\": %lld, \"bbox\": [%.3f, %.3f, %.3f, %.3f], \"score\": %.5f}",
                  i == 0 ? "" : ",", static_cast<long long>(r.image_id), static_cast<long long>(r.category_id), r.x,
                  r.y, r.w, r.h, r.score);
    text += line;
  }
  text += "\n]\n";
  io::write_output(path, text);
}

namespace {

// Our results as the evaluator's detections (indices into the ground truth's images and categories).
coco::Detections to_coco_detections(const std::vector<CocoResult>& results, const coco::GroundTruth& gt) {
  coco::Detections dt;
  dt.source = "model output";
  dt.detections.reserve(results.size());
  for (const CocoResult& r : results) {
    const auto img = std::lower_bound(gt.image_ids.begin(), gt.image_ids.end(), r.image_id);
    const auto cat = std::lower_bound(gt.categories.begin(), gt.categories.end(), r.category_id,
                                      [](const coco::Category& c, std::int64_t id) { return c.id < id; });
    GHM_CHECK(img != gt.image_ids.end() && *img == r.image_id && cat != gt.categories.end() &&
                  cat->id == r.category_id,
              gt.source, ": has no image ", r.image_id, " or no category ", r.category_id,
              " (the model's classes must be the split's categories)");
    coco::Detection d;
    d.image = static_cast<std::int32_t>(img - gt.image_ids.begin());
    d.category = static_cast<std::int32_t>(cat - gt.categories.begin());
    d.box = {r.x, r.y, r.w, r.h};
    d.score = r.score;
    dt.detections.push_back(d);
  }
  return dt;
}

}  // namespace

namespace {

// The one-view results of this rank's images, one list per batch (gather_results' order).
std::vector<std::vector<CocoResult>> detect_shard(Detector& detector, const DetectionSource& split,
                                                  const std::vector<std::int64_t>& shard, const TestConfig& test,
                                                  const io::LoaderConfig& lc) {
  const io::SampleFn load = split.sample_fn();
  io::DataLoader loader(static_cast<std::int64_t>(shard.size()),
                        [&](std::int64_t i, Generator& rng) { return load(shard[static_cast<std::size_t>(i)], rng); },
                        lc);
  std::vector<std::vector<CocoResult>> batch_results;
  loader.start_epoch(0);
  while (std::optional<io::Batch> batch = loader.next())
    append_results(*batch, detector.detect(*batch, test), split.dataset(), batch_results.emplace_back());
  return batch_results;
}

// The same with test-time augmentation: every size's pass over the images, then each image's views
// fused (test_time_augmentation.h); the lists per batch as the one-view plan makes them.
std::vector<std::vector<CocoResult>> detect_shard_views(Detector& detector, const DetectionSource& split,
                                                        const std::vector<std::int64_t>& shard, const TestConfig& test,
                                                        const DataConfig& data, const io::LoaderConfig& lc) {
  std::vector<std::vector<detection::ImageDetections>> views(shard.size());  // [image of the shard][view]
  for (const TestScale& scale : test_scales(test, data)) {
    const io::SampleFn load = split.sample_fn_at(scale.short_side, scale.max_side);
    io::DataLoader loader(static_cast<std::int64_t>(shard.size()),
                          [&](std::int64_t i, Generator& rng) { return load(shard[static_cast<std::size_t>(i)], rng); },
                          lc);
    loader.start_epoch(0);
    while (std::optional<io::Batch> batch = loader.next()) {
      std::vector<std::vector<detection::ImageDetections>> mine = detect_views_of_batch(detector, *batch, test);
      for (std::size_t k = 0; k < mine.size(); ++k) {
        auto& image = views[static_cast<std::size_t>(batch->samples[k].index)];
        for (detection::ImageDetections& v : mine[k]) image.push_back(std::move(v));
      }
    }
  }
  std::vector<std::vector<CocoResult>> batch_results((shard.size() + static_cast<std::size_t>(lc.batch_size) - 1) /
                                                     static_cast<std::size_t>(lc.batch_size));
  for (std::size_t p = 0; p < shard.size(); ++p) {
    const std::int64_t image_id = split.dataset().images[static_cast<std::size_t>(shard[p])].id;
    append_image_results(image_id, fuse(views[p], test), split.dataset(),
                         batch_results[p / static_cast<std::size_t>(lc.batch_size)]);
  }
  return batch_results;
}

}  // namespace

std::optional<EvalReport> evaluate_split(Detector& detector, const DetectionSource& split, const std::string& gt_json,
                                         const TestConfig& test, const DataConfig& data, dist::Communicator& comm) {
  const auto start = std::chrono::steady_clock::now();
  nn::Module& model = detector.module();
  const bool was_training = model.is_training();
  model.eval();
  io::LoaderConfig lc;
  lc.batch_size = test.batch_size;
  lc.workers = data.workers;
  lc.prefetch_batches = data.prefetch;
  lc.size_divisor = data.size_divisor;
  // This rank's images, in batches as one process would make them (distributed.h).
  const std::vector<std::int64_t> shard = eval_shard(split.size(), test.batch_size, comm.rank(), comm.size());
  const std::vector<std::vector<CocoResult>> batch_results =
      plain_inference(test, data) ? detect_shard(detector, split, shard, test, lc)
                                  : detect_shard_views(detector, split, shard, test, data, lc);
  model.train(was_training);
  EvalReport report;
  report.results = gather_results(comm, batch_results);
  const double infer_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (comm.rank() != 0) return std::nullopt;

  const coco::GroundTruth gt = coco::load_ground_truth(gt_json);
  report.coco = coco::evaluate_bbox(gt, to_coco_detections(report.results, gt));
  report.summary = coco::format_summary(report.coco.stats);
  report.per_class = coco::format_per_class(gt, report.coco);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.images_per_second = static_cast<double>(split.size()) / std::max(infer_seconds, 1e-9);
  return report;
}

void write_eval_json(const std::string& path, const EvalReport& report, const coco::Dataset& dataset) {
  io::Json stats = io::Json::array();
  for (double v : report.coco.stats) stats.push_back(io::Json(v));
  io::Json per_class = io::Json::object();
  for (std::size_t k = 0; k < report.coco.per_class_ap.size() && k < dataset.categories.size(); ++k)
    per_class.set(dataset.categories[k].name, io::Json(report.coco.per_class_ap[k]));
  io::Json per_iou = io::Json::array();
  for (double v : report.coco.ap_per_iou) per_iou.push_back(io::Json(v));
  io::Json root = io::Json::object();
  root.set("stats", stats);
  root.set("per_class", per_class);
  root.set("ap_per_iou", per_iou);
  io::write_output(path, root.dump() + "\n");
}

}  // namespace ghm::engine
