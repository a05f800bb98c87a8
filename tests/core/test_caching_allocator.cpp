// The caching allocator's policy (core/cuda/caching_allocator.h) over a fake device that counts
// its allocations and can run out of memory, so that it is tested on every machine; the CUDA
// backend itself is exercised by the GPU suites.
#include <doctest/doctest.h>

#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/cuda/caching_allocator.h"

using namespace ghm;
using cuda::CachingAllocator;

namespace {

// Host memory posing as a device of `capacity` bytes.
struct FakeDevice {
  std::size_t capacity = std::size_t{1} << 40;
  std::size_t in_use = 0;
  std::int64_t allocations = 0, releases = 0;
  std::set<void*> live;
  std::map<void*, std::size_t> sizes;
};

class FakeMemory final : public cuda::MemoryBackend {
 public:
  explicit FakeMemory(FakeDevice& d) : d_(d) {}
  void* allocate(std::size_t bytes) override {
    if (d_.in_use + bytes > d_.capacity) return nullptr;
    void* p = std::malloc(bytes);
    REQUIRE(p != nullptr);
    d_.in_use += bytes;
    ++d_.allocations;
    d_.live.insert(p);
    d_.sizes[p] = bytes;
    return p;
  }
  void release(void* p) override {
    REQUIRE(d_.live.erase(p) == 1);
    d_.in_use -= d_.sizes.at(p);
    d_.sizes.erase(p);
    ++d_.releases;
    std::free(p);
  }
  std::string name() const override { return "fake:0"; }

 private:
  FakeDevice& d_;
};

std::unique_ptr<CachingAllocator> make_ptr(FakeDevice& d, CachingAllocator::Caching c = CachingAllocator::Caching::On) {
  return std::make_unique<CachingAllocator>(std::make_unique<FakeMemory>(d), c);
}

}  // namespace

TEST_CASE("caching allocator: sizes round to 512 bytes, and to 128 KiB above 1 MiB") {
  CHECK(CachingAllocator::round_size(0) == 0);
  CHECK(CachingAllocator::round_size(1) == 512);
  CHECK(CachingAllocator::round_size(512) == 512);
  CHECK(CachingAllocator::round_size(513) == 1024);
  CHECK(CachingAllocator::round_size(1 << 20) == 1 << 20);
  CHECK(CachingAllocator::round_size((1 << 20) + 1) == (1 << 20) + (128 << 10));
}

TEST_CASE("caching allocator: a freed block is reused by the next request of its size on its stream") {
  FakeDevice d;
  auto a = make_ptr(d);
  void* p = a->allocate(1000, 0);
  a->free(p);
  CHECK(d.allocations == 1);
  CHECK(d.releases == 0);  // cached, not returned
  void* q = a->allocate(900, 0);  // rounds to the same 1024 bytes
  CHECK(q == p);
  CHECK(d.allocations == 1);
  CHECK(a->stats().cache_hits == 1);
  // Another stream never receives it while it is cached for stream 0.
  a->free(q);
  void* r = a->allocate(1000, 7);
  CHECK(r != p);
  CHECK(d.allocations == 2);
  a->free(r);
  CHECK(a->allocate(0, 0) == nullptr);
  a->free(nullptr);
}

TEST_CASE("caching allocator: best fit, never a block that wastes more than a quarter of itself") {
  FakeDevice d;
  auto a = make_ptr(d);
  void* big = a->allocate(64 << 10);    // 64 KiB
  void* mid = a->allocate(40 << 10);    // 40 KiB
  a->free(big);
  a->free(mid);
  CHECK(a->allocate(36 << 10) == mid);  // 40 KiB wastes 4 of 40: taken, and the best fit
  void* small = a->allocate(8 << 10);   // 64 KiB would waste 56 of 64: a new block
  CHECK(small != big);
  CHECK(d.allocations == 3);
  CHECK(a->stats().allocated_bytes == (40 << 10) + (8 << 10));
  a->free(mid);
  a->free(small);
}

TEST_CASE("caching allocator: statistics, peak accounting and reset") {
  FakeDevice d;
  auto a = make_ptr(d);
  void* x = a->allocate(1 << 20);
  void* y = a->allocate(3 << 20);
  cuda::AllocatorStats s = a->stats();
  CHECK(s.allocated_bytes == (4u << 20));
  CHECK(s.peak_allocated_bytes == (4u << 20));
  CHECK(s.reserved_bytes == (4u << 20));
  CHECK(s.live_blocks == 2);
  a->free(y);
  s = a->stats();
  CHECK(s.allocated_bytes == (1u << 20));
  CHECK(s.peak_allocated_bytes == (4u << 20));
  CHECK(s.reserved_bytes == (4u << 20));  // y is cached
  a->reset_peak();
  CHECK(a->stats().peak_allocated_bytes == (1u << 20));
  a->empty_cache();
  s = a->stats();
  CHECK(s.reserved_bytes == (1u << 20));
  CHECK(s.device_releases == 1);
  CHECK(d.in_use == (1u << 20));
  a->free(x);
}

TEST_CASE("caching allocator: a training-like loop stops asking the device after its first iteration, and leaks nothing") {
  FakeDevice d;
  {
    auto a = make_ptr(d);
    // Each iteration: activations of varying sizes allocated in order, gradients, then freed in a
    // different order (as the autograd graph releases them); weights stay live throughout.
    std::vector<void*> weights;
    for (int i = 0; i < 10; ++i) weights.push_back(a->allocate(static_cast<std::size_t>(4096 * (i + 1))));
    std::int64_t after_first = 0;
    for (int iteration = 0; iteration < 50; ++iteration) {
      std::vector<void*> tensors;
      for (int i = 0; i < 40; ++i) tensors.push_back(a->allocate(static_cast<std::size_t>(1000 + 37000 * (i % 13)), 0));
      for (int i = 39; i >= 0; i -= 2) a->free(tensors[static_cast<std::size_t>(i)]);
      for (int i = 0; i < 40; i += 2) a->free(tensors[static_cast<std::size_t>(i)]);
      if (iteration == 0) after_first = d.allocations;
    }
    CHECK(d.allocations == after_first);
    const cuda::AllocatorStats s = a->stats();
    CHECK(s.live_blocks == 10);
    CHECK(s.cache_hits == 49 * 40);
    for (void* w : weights) a->free(w);
    CHECK(a->stats().allocated_bytes == 0);
    CHECK(a->stats().live_blocks == 0);
  }
  // Destroying the allocator returned every block to the device.
  CHECK(d.live.empty());
  CHECK(d.in_use == 0);
  CHECK(d.releases == d.allocations);
}

TEST_CASE("caching allocator: out of memory releases the cache and retries, then fails with the statistics") {
  FakeDevice d;
  d.capacity = 10 << 20;
  auto a = make_ptr(d);
  void* p = a->allocate(6 << 20, 1);
  a->free(p);  // cached on stream 1: 6 MiB reserved, nothing allocated
  void* q = a->allocate(8 << 20, 0);  // does not fit beside the cached block: the cache goes, then it fits
  CHECK(q != nullptr);
  CHECK(d.releases == 1);
  const std::int64_t before = a->stats().allocations;
  CHECK_THROWS_WITH_AS(a->allocate(4 << 20, 0), doctest::Contains("fake:0: out of memory allocating 4 MiB"), Error);
  CHECK(a->stats().allocations == before);  // a failed request is not counted
  a->free(q);
  CHECK_THROWS_AS((void)CachingAllocator::round_size(std::numeric_limits<std::size_t>::max() - 10), Error);
}

TEST_CASE("caching allocator: with caching off every free goes back to the device, bad frees are errors") {
  FakeDevice d;
  auto a = make_ptr(d, CachingAllocator::Caching::Off);
  CHECK_FALSE(a->caching());
  void* p = a->allocate(100);
  a->free(p);
  CHECK(d.releases == 1);
  CHECK(a->stats().reserved_bytes == 0);
  int on_stack = 0;
  CHECK_THROWS_WITH_AS(a->free(&on_stack), doctest::Contains("did not allocate"), Error);
  void* q = a->allocate(100);
  a->free(q);
  CHECK_THROWS_WITH_AS(a->free(q), doctest::Contains("freed twice"), Error);
}
