// The host block cache (core/cpu/large_block_cache.h): large blocks come back for the same rounded
// size, small ones never enter it, the byte limit holds, and tensors use it.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/cpu/large_block_cache.h"
#include "core/storage.h"
#include "core/tensor.h"

using namespace ghm;

namespace {

// Restores the cache's limit and empties it around a test.
struct CacheScope {
  std::size_t limit = cpu::host_cache_limit();
  CacheScope() { cpu::empty_host_cache(); }
  ~CacheScope() {
    cpu::set_host_cache_limit(limit);
    cpu::empty_host_cache();
  }
};

constexpr std::size_t kMiB = std::size_t{1} << 20;

}  // namespace

TEST_CASE("host block cache: a large block is reused for the same rounded size, a small one is not cached") {
  CacheScope scope;
  cpu::set_host_cache_limit(256 * kMiB);
  void* a = cpu::allocate_host_block(40 * kMiB + 123);
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(a) % 64 == 0);
  std::memset(a, 1, 40 * kMiB + 123);
  cpu::free_host_block(a, 40 * kMiB + 123);
  CHECK(cpu::host_cache_bytes() == 42 * kMiB);  // rounded up to 2 MiB
  void* b = cpu::allocate_host_block(41 * kMiB);  // the same rounded size
  CHECK(b == a);
  CHECK(cpu::host_cache_bytes() == 0);
  void* c = cpu::allocate_host_block(50 * kMiB);  // another size: a new block
  CHECK(c != a);
  cpu::free_host_block(b, 41 * kMiB);
  cpu::free_host_block(c, 50 * kMiB);
  CHECK(cpu::host_cache_bytes() == 92 * kMiB);
  void* small = cpu::allocate_host_block(1000);
  REQUIRE(small != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(small) % 64 == 0);
  cpu::free_host_block(small, 1000);
  CHECK(cpu::host_cache_bytes() == 92 * kMiB);
  cpu::empty_host_cache();
  CHECK(cpu::host_cache_bytes() == 0);
  CHECK(cpu::allocate_host_block(0) == nullptr);
}

TEST_CASE("host block cache: the byte limit holds, and a limit of 0 turns it off") {
  CacheScope scope;
  cpu::set_host_cache_limit(100 * kMiB);
  void* a = cpu::allocate_host_block(64 * kMiB);
  void* b = cpu::allocate_host_block(64 * kMiB);
  cpu::free_host_block(a, 64 * kMiB);
  cpu::free_host_block(b, 64 * kMiB);  // would exceed 100 MiB: freed for real
  CHECK(cpu::host_cache_bytes() == 64 * kMiB);
  cpu::set_host_cache_limit(10 * kMiB);  // shrinking releases what no longer fits
  CHECK(cpu::host_cache_bytes() == 0);
  cpu::set_host_cache_limit(0);
  void* c = cpu::allocate_host_block(64 * kMiB);
  cpu::free_host_block(c, 64 * kMiB);
  CHECK(cpu::host_cache_bytes() == 0);
}

TEST_CASE("host block cache: a large tensor's storage returns to the cache and is reused, zeros included") {
  CacheScope scope;
  cpu::set_host_cache_limit(256 * kMiB);
  const std::int64_t live = Storage::live_blocks();
  const void* first = nullptr;
  {
    Tensor t = Tensor::full(Shape{3, 1024, 4096}, 7.0);  // 48 MiB
    first = t.raw_data();
  }
  CHECK(Storage::live_blocks() == live);
  CHECK(cpu::host_cache_bytes() == 48 * kMiB);
  const Tensor z = Tensor::zeros(Shape{3, 1024, 4096});
  CHECK(z.raw_data() == first);                  // the cached block
  CHECK(z.data<float>()[12345] == 0.0f);         // zeros() still clears it
  CHECK(z.data<float>()[3 * 1024 * 4096 - 1] == 0.0f);
}

TEST_CASE("host block cache: off unless asked for (or set by GHM_CPU_CACHE_MB), on with 256 MiB for inference") {
  CacheScope scope;
  if (std::getenv("GHM_CPU_CACHE_MB") != nullptr) return;  // the environment decides both
  CHECK(scope.limit == 0);
  cpu::enable_host_cache_for_inference();
  CHECK(cpu::host_cache_limit() == cpu::kInferenceCacheBytes);
}
