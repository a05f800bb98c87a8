// Compute threads that leave other programs their cores. OpenMP threads that reach a barrier spin
// before they sleep; when another busy program shares the cores, a thread of ours that the kernel
// has set aside holds up the others, which spin on, and training collapses (docs/performance.md:
// the shapes training fell from 62 to 17-21 images/s beside one busy process on two cores).
// Sleeping at once (OMP_WAIT_POLICY=passive) costs 15-20% on a quiet machine; using one thread
// fewer per busy core costs nothing there and runs at the one-thread speed beside a busy process.
//
// So between iterations the trainer asks FairShare for the thread count:
//
//   others  = runnable tasks on the machine (/proc/stat procs_running)
//             - runnable threads of this process (/proc/self/task/*/stat, state R)
//   threads = clamp(cores - median(others over the last kWindow samples), 1, most)
//
// The median keeps a short-lived process (a shell command) from changing anything. On a quiet
// machine others is 0 and the count stays at `most`. The thread count changes how reductions
// split their work, so a run's last bits can then differ from a quiet run's; a fixed
// train.threads turns this off.
#pragma once

#include <array>
#include <cstdint>

namespace ghm::cpu {

// Runnable tasks on the machine other than this process's threads; -1 when /proc cannot tell.
int other_runnable_tasks();

// Whether the count means anything here: procs_running covers every online core, so a process
// limited to some of them (taskset, a container's cpuset) cannot tell which tasks run on its own
// cores, and keeps its thread count.
bool fair_share_applies();

// The thread count for `others` busy tasks: clamp(cores - others, 1, most).
int fair_thread_count(int most, int cores, int others);

class FairShare {
 public:
  static constexpr int kWindow = 5;

  // most: the threads to use on a quiet machine; cores: the cores this process may run on.
  FairShare(int most, int cores);

  // Adds one sample of `others` (ignored when negative) and returns the thread count for the
  // next iteration.
  int update(int others);
  int threads() const { return threads_; }

 private:
  int most_, cores_, threads_;
  std::array<int, kWindow> samples_{};
  int count_ = 0;  // samples seen (the window is full from kWindow on)
};

}  // namespace ghm::cpu
