#include "core/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace ghm::profile {
namespace {

struct State {
  std::mutex mutex;
  std::thread::id owner;
  std::unordered_map<std::string, Entry> entries;
  double last = 0;
  int suppress = 0;  // nesting depth of Regions
};

std::atomic<bool> g_running{false};

State& state() {
  static State s;
  return s;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool owned() { return g_running.load(std::memory_order_relaxed) && state().owner == std::this_thread::get_id(); }

void charge(State& s, const char* name, double seconds) {
  Entry& e = s.entries[name];
  if (e.name.empty()) e.name = name;
  e.seconds += seconds;
  ++e.calls;
}

}  // namespace

void start() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.entries.clear();
  s.owner = std::this_thread::get_id();
  s.suppress = 0;
  s.last = now_seconds();
  g_running.store(true);
}

std::vector<Entry> stop() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  g_running.store(false);
  std::vector<Entry> out;
  for (auto& [name, e] : s.entries) out.push_back(e);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return a.seconds != b.seconds ? a.seconds > b.seconds : a.name < b.name;
  });
  return out;
}

bool running() { return g_running.load(std::memory_order_relaxed); }

void mark(const char* name) {
  if (!owned()) return;
  State& s = state();
  if (s.suppress > 0) return;
  const double t = now_seconds();
  charge(s, name, t - s.last);
  s.last = t;
}

void reset_clock() {
  if (!owned()) return;
  state().last = now_seconds();
}

Region::Region(const char* name) : name_(name), active_(owned()), start_(0) {
  if (!active_) return;
  State& s = state();
  if (s.suppress == 0) {
    start_ = now_seconds();
    // The time since the last mark ran outside any op or region.
    charge(s, "(untracked)", start_ - s.last);
  }
  ++s.suppress;
}

Region::~Region() {
  if (!active_ || !owned()) return;
  State& s = state();
  if (--s.suppress == 0) {
    const double t = now_seconds();
    charge(s, name_, t - start_);
    s.last = t;
  }
}

}  // namespace ghm::profile
