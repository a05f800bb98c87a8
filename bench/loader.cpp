// `ghm_retinanet bench loader`: throughput of the training data pipeline on a COCO split, for
// bench/loader.py, which runs the same work with torchvision and torch.utils.data.DataLoader.
//
// The pipeline is the trainer's (engine/detection_data.h, io/data_loader.h): COCO JSON -> for each
// image, read + JPEG decode (stb) -> keep-ratio resize to --short-side / --max-side (OpenCV
// INTER_LINEAR) -> random horizontal flip (p = 0.5) with the boxes -> normalise into [3, H, W]
// f32 -> pad to --size-divisor and collate --batch images; shuffled per epoch, grouped by aspect.
// --images-count N makes an epoch N samples long, cycling through the set when N exceeds it.
//
// Loader figures, per worker count: the first --warmup batches (thread start, cold caches) are
// not timed; the clock runs from there to the last batch of the last epoch. images/s is the
// timed images over that wall time; per core divides by the cores the loader keeps busy, its
// workers, or 1 for workers = 0 (the consumer thread loads the batches itself).
//
// Stage figures, one thread, so one sees where the time goes: decode is io::decode_image on file
// bytes already in memory (cycling through the set); resize and normalise repeat the first image's
// work (all images of a split of one size cost the same). Each is the median per image.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "bench/timing.h"
#include "engine/detection_data.h"
#include "core/check.h"
#include "io/output_file.h"
#include "io/image.h"
#include "io/json.h"
#include "io/transforms.h"

namespace ghm::bench {
using namespace ghm::engine;  // the trainer's data pipeline
namespace {

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GHM_CHECK(in.good(), "bench loader: cannot open '", path, "'");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Stage {
  std::string name;
  double ms_per_image = 0;
};

// The stages on one thread, median ms per image (see the top of this file).
std::vector<Stage> time_stages(const DetectionSource& source, const DataConfig& data, std::int64_t count,
                               bool decode_only) {
  const std::int64_t distinct = std::min(count, source.size());
  std::vector<std::vector<std::uint8_t>> files;
  for (std::int64_t i = 0; i < distinct; ++i) files.push_back(read_bytes(source.image_path(i)));
  constexpr int kWarmup = 3, kRepeats = 300;  // about a second per stage

  std::vector<Stage> stages;
  std::size_t next = 0;
  stages.push_back({"decode (stb, bytes in memory)", median_ms(kWarmup, kRepeats, [&] {
                      const std::vector<std::uint8_t>& bytes = files[next++ % files.size()];
                      io::decode_image(bytes, "image");
                    })});
  if (decode_only) return stages;

  const io::Image image = io::decode_image(files[0], source.image_path(0));
  const io::RescaledSize size = io::rescale_size(image.height, image.width, data.train_short_sides[0], data.max_side);
  const std::string resize_name = "resize " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                                  " -> " + std::to_string(size.width) + "x" + std::to_string(size.height);
  io::Image resized;
  stages.push_back({resize_name, median_ms(kWarmup, kRepeats, [&] {
                      resized = io::resize_bilinear(image, size.height, size.width);
                    })});
  stages.push_back({"normalise into [3, H, W] f32", median_ms(kWarmup, kRepeats, [&] {
                      io::normalize(resized, data.mean, data.std, io::ChannelOrder::RGB);
                    })});
  return stages;
}

struct LoaderRun {
  int workers = 0;
  int cores = 1;
  std::int64_t images = 0;  // timed
  double seconds = 0;
};

// `count` samples cycling through the set: index i is image i % size.
std::vector<float> cycled_aspects(const DetectionSource& source, std::int64_t count) {
  const std::vector<float> set_aspects = source.aspects();
  std::vector<float> aspects;
  for (std::int64_t i = 0; i < count; ++i) aspects.push_back(set_aspects[static_cast<std::size_t>(i % source.size())]);
  return aspects;
}

LoaderRun time_loader(const DetectionSource& source, const DataConfig& data, const TrainConfig& train,
                      std::int64_t count, const LoaderBenchOptions& o) {
  const std::int64_t set_size = source.size();
  io::SampleFn load = [&source, set_size](std::int64_t index, Generator& rng) {
    return source.load(index % set_size, rng);
  };
  io::DataLoader loader(count, load, train_loader_config(data, train), cycled_aspects(source, count));

  LoaderRun run;
  run.workers = data.workers;
  run.cores = std::max(1, data.workers);
  int seen = 0;
  auto start = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    loader.start_epoch(epoch);
    while (std::optional<io::Batch> batch = loader.next()) {
      if (++seen == o.warmup_batches) start = std::chrono::steady_clock::now();
      if (seen > o.warmup_batches) run.images += static_cast<std::int64_t>(batch->samples.size());
    }
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace

int run_loader_bench(const LoaderBenchOptions& o) {
  DataConfig data;
  data.train_short_sides = {o.short_side};
  data.max_side = o.max_side;
  data.size_divisor = o.size_divisor;
  data.mean = io::kImageNetMeanRGB;
  data.std = io::kImageNetStdRGB;
  TrainConfig train;
  train.batch_size = o.batch;

  const DetectionSource source(load_split(o.instances, data, Split::Train), o.image_root, data, Split::Train);
  const std::int64_t count = o.images_count > 0 ? o.images_count : source.size();
  const std::vector<float> aspects = cycled_aspects(source, count);
  const auto batches =
      static_cast<std::int64_t>(io::plan_epoch(count, train_loader_config(data, train), aspects, 0).size());
  GHM_CHECK(o.decode_only || batches * o.epochs > o.warmup_batches, "bench loader: ", o.epochs, " epoch(s) of ",
            batches, " batches leave nothing to time after --warmup ", o.warmup_batches,
            " (use a larger --images-count or --epochs)");
  std::printf("set      %s: %lld images, %lld samples per epoch, %d epoch(s), batch %d\n", o.instances.c_str(),
              static_cast<long long>(source.size()), static_cast<long long>(count), o.epochs, o.batch);
  std::printf("pipeline decode, resize (short side %d, max side %d), flip 0.5, normalise, pad to %d, collate\n\n",
              o.short_side, o.max_side, o.size_divisor);

  io::Json json = io::Json::object();
  json.set("images_in_set", source.size()).set("samples_per_epoch", count).set("epochs", o.epochs);
  json.set("batch", o.batch).set("short_side", o.short_side).set("max_side", o.max_side);
  json.set("size_divisor", o.size_divisor);

  std::printf("%-34s %10s %10s\n", "stage (1 thread)", "ms/image", "images/s");
  io::Json stages = io::Json::array();
  for (const Stage& s : time_stages(source, data, count, o.decode_only)) {
    std::printf("%-34s %10.2f %10.1f\n", s.name.c_str(), s.ms_per_image, 1000.0 / s.ms_per_image);
    stages.push_back(io::Json::object().set("stage", s.name).set("ms_per_image", s.ms_per_image));
  }
  json.set("stages", std::move(stages));

  io::Json runs = io::Json::array();
  if (!o.decode_only) {
    std::printf("\n%-8s %6s %8s %9s %10s %14s\n", "workers", "cores", "images", "seconds", "images/s", "images/s/core");
    for (int w : o.workers) {
      data.workers = w;
      const LoaderRun r = time_loader(source, data, train, count, o);
      const double rate = static_cast<double>(r.images) / r.seconds;
      std::printf("%-8d %6d %8lld %9.2f %10.1f %14.1f\n", r.workers, r.cores, static_cast<long long>(r.images),
                  r.seconds, rate, rate / r.cores);
      std::fflush(stdout);
      runs.push_back(io::Json::object()
                         .set("workers", r.workers)
                         .set("cores", r.cores)
                         .set("images", r.images)
                         .set("seconds", r.seconds)
                         .set("images_per_s", rate)
                         .set("images_per_s_per_core", rate / r.cores));
    }
  }
  json.set("loader", std::move(runs));
  if (!o.json_out.empty()) io::write_output(o.json_out, json.dump() + "\n");
  return 0;
}

}  // namespace ghm::bench
