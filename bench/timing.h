// Timing for the `bench` suites: the median wall time of `repeats` runs after `warmup` runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace ghm::bench {

template <class F>
double median_ms(int warmup, int repeats, F&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace ghm::bench
