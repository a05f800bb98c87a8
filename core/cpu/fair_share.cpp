// The fair thread count (fair_share.h): the machine's runnable tasks from /proc, less this
// process's own (the fewest of three looks), and the median of the last few samples.
#include "core/cpu/fair_share.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

namespace ghm::cpu {
namespace {

// procs_running from /proc/stat; -1 if unreadable.
int machine_runnable() {
  std::ifstream in("/proc/stat");
  std::string word;
  while (in >> word) {
    if (word != "procs_running") continue;
    int n = -1;
    in >> n;
    return n;
  }
  return -1;
}

// This process's threads in state R; -1 if unreadable.
int own_runnable() {
  std::error_code ec;
  std::filesystem::directory_iterator tasks("/proc/self/task", ec);
  if (ec) return -1;
  int running = 0;
  for (const auto& task : tasks) {
    std::ifstream in(task.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;  // the thread has ended
    const std::size_t close = line.rfind(')');  // the name may hold spaces and parentheses
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'R') ++running;
  }
  return running;
}

}  // namespace

int other_runnable_tasks() {
  // The two files are read one after the other, so a thread of ours (a loader, say) that wakes in
  // between looks like another program's. A busy program is runnable in every look: the fewest
  // of a few looks.
  constexpr int kLooks = 3;
  int fewest = -1;
  for (int look = 0; look < kLooks; ++look) {
    const int all = machine_runnable();
    const int own = own_runnable();
    if (own < 0 || all < 0) return -1;
    const int others = std::max(0, all - own);
    fewest = fewest < 0 ? others : std::min(fewest, others);
  }
  return fewest;
}

bool fair_share_applies() {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 && omp_get_num_procs() >= online;
}

int fair_thread_count(int most, int cores, int others) { return std::clamp(cores - others, 1, std::max(1, most)); }

FairShare::FairShare(int most, int cores) : most_(std::max(1, most)), cores_(std::max(1, cores)), threads_(most_) {}

int FairShare::update(int others) {
  if (others < 0) return threads_;
  samples_[static_cast<std::size_t>(count_ % kWindow)] = others;
  ++count_;
  if (count_ < kWindow) return threads_;
  std::array<int, kWindow> sorted = samples_;
  std::nth_element(sorted.begin(), sorted.begin() + kWindow / 2, sorted.end());
  threads_ = fair_thread_count(most_, cores_, sorted[kWindow / 2]);
  return threads_;
}

}  // namespace ghm::cpu
