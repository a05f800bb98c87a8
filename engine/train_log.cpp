#include "engine/train_log.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "io/output_file.h"

namespace ghm::engine {
namespace {

double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  long long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

std::string format_duration(double seconds) {
  const long long s = static_cast<long long>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  return buf;
}

// A JSON number, or null where there is none (every step of the interval skipped).
std::string number(double sum, int count, const char* format) {
  if (count == 0) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, format, sum / count);
  return buf;
}

}  // namespace

void log_interval(const std::string& log_path, const TrainProgress& progress, float lr, const IntervalStats& interval,
                  const LogContext& context, std::chrono::steady_clock::time_point now, bool quiet) {
  // (interval.images counts the images of the whole job: every process's share of each batch)
  const double k = interval.iterations, n = std::max(interval.with_loss, 1);
  char line[640];
  std::snprintf(line, sizeof line,
                "{\"iteration\": %lld, \"epoch\": %lld, \"lr\": %.6g, \"loss\": %s, \"loss_cls\": %s, "
                "\"loss_reg\": %s, \"grad_norm\": %s, \"time\": %.4f, \"data_time\": %.4f, \"comm_time\": %.4f, "
                "\"memory_mb\": %.1f, \"threads\": %d, \"processes\": %d, \"loss_scale\": %.17g, "
                "\"skipped_steps\": %d}",
                static_cast<long long>(progress.iteration), static_cast<long long>(progress.epoch + 1), lr,
                number(interval.loss, interval.with_loss, "%.6f").c_str(),
                number(interval.cls, interval.with_loss, "%.6f").c_str(),
                number(interval.reg, interval.with_loss, "%.6f").c_str(),
                number(interval.grad_norm, interval.with_norm, "%.4f").c_str(), interval.seconds / k,
                interval.data_seconds / k, interval.comm_seconds / k, resident_mb(), omp_get_max_threads(),
                context.processes, interval.loss_scale, interval.skipped);
  io::append_output(log_path, std::string(line) + "\n");
  if (quiet) return;
  const double elapsed = std::chrono::duration<double>(now - context.run_start).count();
  const double per_iter = elapsed / static_cast<double>(progress.iteration - context.first_iteration);
  std::printf("epoch %lld/%d iter %lld/%lld | loss %.4f (cls %.4f reg %.4f) | lr %.2e | %.1f img/s, data %.0f%% | "
              "ETA %s\n",
              static_cast<long long>(progress.epoch + 1), context.epochs, static_cast<long long>(progress.iteration),
              static_cast<long long>(context.total), interval.loss / n, interval.cls / n, interval.reg / n, lr,
              interval.images / interval.seconds, 100.0 * interval.data_seconds / interval.seconds,
              format_duration(per_iter * static_cast<double>(context.total - progress.iteration)).c_str());
  std::fflush(stdout);
}

}  // namespace ghm::engine
