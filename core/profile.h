// A per-op time profile of the thread that starts it, for `ghm_retinanet bench train --profile`.
//
// Forward: every op calls record_op once its output exists (core/autograd.h), so the time since the
// previous mark is the op's own forward time; `mark(name)` charges that time to `name`. Code that
// is not an op (target assignment, the SGD update) marks itself with a descriptive name, which
// ends the interval of the op before it. Backward: the engine times each node's closure and charges
// it to "<op> backward"; ops called inside a closure do not mark. Marks from other threads (data
// loader workers) are ignored, and when no profile is running a mark costs one atomic load.
// start(), stop(), marks and Regions that count all run on the thread that started the profile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ghm::profile {

struct Entry {
  std::string name;
  double seconds = 0;
  std::int64_t calls = 0;
};

// Starts a profile on the calling thread (clears any previous one); the clock starts now.
void start();
// Stops it and returns the entries, largest time first.
std::vector<Entry> stop();
bool running();

// Charges the time since the previous mark (or start) to `name`.
void mark(const char* name);
// Drops the time since the previous mark (e.g. timing code of the benchmark itself).
void reset_clock();

// Times a region under a name; inside it, marks are suppressed (the region is one entry). The
// time between the previous mark and the region's start is charged to "(untracked)".
class Region {
 public:
  explicit Region(const char* name);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

 private:
  bool active_;
  std::uint64_t generation_ = 0;  // the profile it belongs to: a Region outliving it ends silently
  std::string name_;              // copied: the caller's string may be a temporary
  double start_ = 0;
};

}  // namespace ghm::profile
