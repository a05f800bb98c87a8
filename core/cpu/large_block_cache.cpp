#include "core/cpu/large_block_cache.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ghm::cpu {
namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kLargeRound = std::size_t{2} << 20;

// GHM_CPU_CACHE_MB as bytes, or `fallback` when it is not set (or not a number).
std::size_t limit_from_environment(std::size_t fallback) {
  const char* v = std::getenv("GHM_CPU_CACHE_MB");
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(v, &end, 10);
  return (end != nullptr && *end == '\0') ? static_cast<std::size_t>(mb) << 20 : fallback;
}

struct Cache {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  std::size_t bytes = 0;
  std::size_t limit = limit_from_environment(0);

  void release_until(std::size_t target) {  // largest blocks first
    while (bytes > target && !free_blocks.empty()) {
      auto it = std::prev(free_blocks.end());
      std::free(it->second.back());
      it->second.pop_back();
      bytes -= it->first;
      if (it->second.empty()) free_blocks.erase(it);
    }
  }
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may be freed during static destruction
  return *c;
}

std::size_t rounded(std::size_t bytes) {
  if (bytes >= kLargeBlockBytes) return (bytes + kLargeRound - 1) / kLargeRound * kLargeRound;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

}  // namespace

void* allocate_host_block(std::size_t bytes) {
  const std::size_t size = rounded(bytes);
  if (size == 0) return nullptr;
  if (size >= kLargeBlockBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    const auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end()) {
      void* p = it->second.back();
      it->second.pop_back();
      if (it->second.empty()) c.free_blocks.erase(it);
      c.bytes -= size;
      return p;
    }
  }
  return std::aligned_alloc(kAlignment, size);
}

void free_host_block(void* ptr, std::size_t bytes) noexcept {
  if (ptr == nullptr) return;
  const std::size_t size = rounded(bytes);
  if (size >= kLargeBlockBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.bytes + size <= c.limit) {
      c.free_blocks[size].push_back(ptr);
      c.bytes += size;
      return;
    }
  }
  std::free(ptr);
}

std::size_t host_cache_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.bytes;
}

std::size_t host_cache_limit() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.limit;
}

void set_host_cache_limit(std::size_t bytes) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limit = bytes;
  c.release_until(bytes);
}

void empty_host_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release_until(0);
}

}  // namespace ghm::cpu

namespace ghm::cpu {

void enable_host_cache_for_inference() { set_host_cache_limit(limit_from_environment(kInferenceCacheBytes)); }

}  // namespace ghm::cpu
