// `ghm_retinanet bench coco-load`: time coco::load_dataset on a COCO instances file and report
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

#include "bench/bench.h"
#include "coco/dataset.h"

namespace ghm::bench {

int run_coco_load_bench(const CocoLoadBenchOptions& o) {
  const std::string& path = o.instances;
  const int repeats = o.repeats;
  coco::LoadOptions options;
  if (o.drop_empty) options.empty_images = coco::EmptyImages::Drop;

  std::vector<double> seconds;
  coco::Dataset data;
  for (int r = 0; r < repeats; ++r) {
    options.warnings = r == 0 ? coco::Warnings::Print : coco::Warnings::Collect;
    data = coco::Dataset();  // so that two datasets never coexist and inflate the peak
    const auto t0 = std::chrono::steady_clock::now();
    data = coco::load_dataset(path, options);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // ru_maxrss is in KiB on Linux

  const coco::LoadReport& report = data.report;
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

}  // namespace ghm::bench
