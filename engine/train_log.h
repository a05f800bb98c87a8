// The training log: the sums over one log interval, its line in log.jsonl (docs/config.md, "Work
// directory") and the console's progress line with the ETA.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>

#include "engine/checkpoint.h"

namespace ghm::engine {

// Sums over one log interval. A step the loss scaler skipped (fp16 with dynamic scaling) leaves
// its inf or NaN loss or gradient norm out of the sums, so the means are those of the others.
struct IntervalStats {
  int iterations = 0, images = 0, skipped = 0;  // skipped: steps the loss scaler skipped
  int with_loss = 0, with_norm = 0;             // the steps whose losses, and whose norm, were summed
  double loss = 0, cls = 0, reg = 0, grad_norm = 0, seconds = 0, data_seconds = 0, comm_seconds = 0;
  double loss_scale = 1;  // the scaler's scale after the interval's last step
  void add(double l, double c, double r, double g, bool skip, double t, double d, double comm, int n) {
    ++iterations;
    images += n;
    skipped += skip ? 1 : 0;
    if (std::isfinite(l)) {
      ++with_loss;
      loss += l;
      cls += c;
      reg += r;
    }
    if (!skip && std::isfinite(g)) {
      ++with_norm;
      grad_norm += g;
    }
    seconds += t;
    data_seconds += d;
    comm_seconds += comm;
  }
};

// Where the run stands, for the log line and the console's progress line.
struct LogContext {
  std::int64_t total = 0, first_iteration = 0;
  int epochs = 0;
  int processes = 1;  // of the job
  std::chrono::steady_clock::time_point run_start;
};

// The interval's means as one log.jsonl line (rank 0 of a job writes it) and, unless quiet, a
// console line with the ETA.
void log_interval(const std::string& log_path, const TrainProgress& progress, float lr, const IntervalStats& interval,
                  const LogContext& context, std::chrono::steady_clock::time_point now, bool quiet);

}  // namespace ghm::engine
