#include "core/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <unordered_map>

namespace ghm::profile {
namespace {

// Written by start() and stop(), read by every mark: the owner is atomic and published before
// `running` (release), so a thread that sees `running` also sees the owner. Everything else is
// touched by the owner thread only, so it needs no lock.
std::atomic<bool> g_running{false};
std::atomic<std::thread::id> g_owner{};
std::atomic<std::uint64_t> g_generation{0};

struct State {
  std::unordered_map<std::string, Entry> entries;
  double last = 0;
  int suppress = 0;  // nesting depth of live Regions of the current profile
};

State& state() {
  static State s;
  return s;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool owned() {
  return g_running.load(std::memory_order_acquire) && g_owner.load(std::memory_order_relaxed) == std::this_thread::get_id();
}

void charge(State& s, const std::string& name, double seconds) {
  Entry& e = s.entries[name];
  if (e.name.empty()) e.name = name;
  e.seconds += seconds;
  ++e.calls;
}

}  // namespace

void start() {
  State& s = state();
  g_running.store(false, std::memory_order_release);
  s.entries.clear();
  s.suppress = 0;
  s.last = now_seconds();
  g_generation.fetch_add(1, std::memory_order_relaxed);  // Regions of an earlier profile end silently
  g_owner.store(std::this_thread::get_id(), std::memory_order_relaxed);
  g_running.store(true, std::memory_order_release);
}

std::vector<Entry> stop() {
  g_running.store(false, std::memory_order_release);
  g_generation.fetch_add(1, std::memory_order_relaxed);
  std::vector<Entry> out;
  for (auto& [name, e] : state().entries) out.push_back(e);
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

Region::Region(const char* name) : active_(owned()) {
  if (!active_) return;
  generation_ = g_generation.load(std::memory_order_relaxed);
  State& s = state();
  if (s.suppress == 0) {
    name_ = name;
    start_ = now_seconds();
    // The time since the last mark ran outside any op or region.
    charge(s, "(untracked)", start_ - s.last);
  }
  ++s.suppress;
}

Region::~Region() {
  if (!active_ || !owned() || g_generation.load(std::memory_order_relaxed) != generation_) return;
  State& s = state();
  if (--s.suppress == 0) {
    const double t = now_seconds();
    charge(s, name_, t - start_);
    s.last = t;
  }
}

}  // namespace ghm::profile
