// `ghm_retinanet bench coco-load`: time io::load_coco_dataset on a COCO instances file and report
// its peak memory, for bench/coco_load.py, which runs pycocotools' COCO() on the same file.
//
// Each repeat loads the whole file from scratch (the first one may read it from disk, later ones
// from the page cache); the reported time is the median. Peak RSS is the process's high-water
// mark (getrusage), so it covers the largest single load, the file buffer included.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "coco/dataset.h"

namespace ghm::app {

int bench_coco_load(const std::vector<std::string>& args) {
  std::string path;
  int repeats = 1;
  io::CocoLoadOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw UsageError("bench coco-load: option " + a + " needs a value");
      return args[++i];
    };
    if (a == "--json") path = value();
    else if (a == "--repeats") repeats = std::stoi(value());
    else if (a == "--drop-empty") options.empty_images = io::EmptyImages::Drop;
    else if (a == "--help") {
      std::printf("usage: ghm_retinanet bench coco-load --json INSTANCES.json [--repeats R] [--drop-empty]\n"
                  "  loads a COCO instances file R times (default 1); prints counts, the median time and\n"
                  "  the peak resident memory. --drop-empty leaves out images without a non-crowd box.\n");
      return 0;
    } else throw UsageError("bench coco-load: unknown option '" + a + "'");
  }
  if (path.empty()) throw UsageError("bench coco-load: --json INSTANCES.json is required");
  if (repeats < 1) throw UsageError("bench coco-load: --repeats must be >= 1");

  std::vector<double> seconds;
  io::CocoDataset data;
  for (int r = 0; r < repeats; ++r) {
    options.warnings = r == 0 ? io::Warnings::Print : io::Warnings::Collect;
    data = io::CocoDataset();  // so that two datasets never coexist and inflate the peak
    const auto t0 = std::chrono::steady_clock::now();
    data = io::load_coco_dataset(path, options);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // ru_maxrss is in KiB on Linux

  const io::CocoLoadReport& report = data.report;
  std::printf("file          %s\n", path.c_str());
  std::printf("images        %zu (%lld without boxes, %lld dropped)\n", data.images.size(),
              static_cast<long long>(report.images_without_boxes), static_cast<long long>(report.dropped_images));
  std::printf("annotations   %lld (%lld skipped as too small)\n", static_cast<long long>(report.annotations),
              static_cast<long long>(report.skipped_small_boxes));
  std::printf("boxes         %zu (%lld crowd)\n", data.boxes.size(), static_cast<long long>(report.crowd_boxes));
  std::printf("categories    %d\n", data.num_classes());
  std::printf("seconds       %.3f (median of %d)\n", seconds[seconds.size() / 2], repeats);
  std::printf("peak_rss_mib  %.1f\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}

}  // namespace ghm::app
