// parallel_for: the one place CPU kernels split work across OpenMP threads.
//
// The range [0, n) is cut into chunks of at least `grain` items; each thread gets contiguous
// chunks (static schedule), so a kernel's result never depends on the thread count unless the
// kernel itself reduces across chunks (and those reduce in a fixed order). Small ranges run inline.
#pragma once

#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace ghm::cpu {

template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& body) {
  if (n <= 0) return;
  const std::int64_t max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const std::int64_t threads = std::min<std::int64_t>(max_threads, std::max<std::int64_t>(1, n / std::max<std::int64_t>(grain, 1)));
  if (threads <= 1) {
    body(std::int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(threads))
  {
    const std::int64_t t = omp_get_thread_num();
    const std::int64_t begin = n * t / threads;
    const std::int64_t end = n * (t + 1) / threads;
    if (begin < end) body(begin, end);
  }
}

// Puts back the caller's OpenMP thread count when a scope ends (a run that sets its own count, as
// train.threads and pretrain.threads do, leaves the process as it found it).
class OmpThreadsRestorer {
 public:
  OmpThreadsRestorer() : threads_(omp_get_max_threads()) {}
  ~OmpThreadsRestorer() { omp_set_num_threads(threads_); }
  OmpThreadsRestorer(const OmpThreadsRestorer&) = delete;
  OmpThreadsRestorer& operator=(const OmpThreadsRestorer&) = delete;

 private:
  int threads_;
};

// Elements per thread below which splitting costs more than it saves (streaming kernels).
constexpr std::int64_t kElementwiseGrain = 32768;

}  // namespace ghm::cpu
