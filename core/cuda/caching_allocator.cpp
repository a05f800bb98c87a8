#include "core/cuda/caching_allocator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/check.h"

namespace ghm::cuda {
namespace {

constexpr std::size_t kSmallRound = 512;
constexpr std::size_t kLargeThreshold = std::size_t{1} << 20;
constexpr std::size_t kLargeRound = std::size_t{128} << 10;

bool caching_from_environment() {
  const char* v = std::getenv("GHM_CUDA_NO_CACHING");
  return v == nullptr || std::strcmp(v, "") == 0 || std::strcmp(v, "0") == 0;
}

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

std::size_t CachingAllocator::round_size(std::size_t bytes) {
  if (bytes == 0) return 0;
  const std::size_t unit = bytes <= kLargeThreshold ? kSmallRound : kLargeRound;
  GHM_CHECK(bytes <= std::numeric_limits<std::size_t>::max() - unit, "CachingAllocator: a request of ", bytes,
            " bytes is too large");
  return (bytes + unit - 1) / unit * unit;
}

CachingAllocator::CachingAllocator(std::unique_ptr<MemoryBackend> backend, Caching caching)
    : backend_(std::move(backend)),
      caching_(caching == Caching::FromEnvironment ? caching_from_environment() : caching == Caching::On) {
  GHM_CHECK(backend_ != nullptr, "CachingAllocator: no memory backend");
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!live_.empty()) {
    std::size_t bytes = 0;
    for (const auto& [ptr, block] : live_) bytes += block.size;
    std::fprintf(stderr, "warning: %s allocator destroyed with %zu live blocks (%.1f MiB) not freed\n",
                 backend_->name().c_str(), live_.size(), mib(bytes));
  }
  release_cached_locked();
}

void* CachingAllocator::allocate(std::size_t bytes, StreamId stream) {
  if (bytes == 0) return nullptr;
  const std::size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* ptr = nullptr;
  std::size_t block_size = size;
  if (auto pool = cached_.find(stream); pool != cached_.end()) {
    auto it = pool->second.lower_bound(size);
    // Best fit, unless the block would waste more than a quarter of itself.
    if (it != pool->second.end() && it->first - size <= it->first / 4) {
      block_size = it->first;
      ptr = it->second;
      pool->second.erase(it);
      if (pool->second.empty()) cached_.erase(pool);
      ++stats_.cache_hits;
    }
  }
  if (ptr == nullptr) {
    ptr = backend_->allocate(size);
    if (ptr == nullptr && stats_.reserved_bytes > stats_.allocated_bytes) {
      release_cached_locked();  // fragmentation across sizes and streams: give everything back, retry
      ptr = backend_->allocate(size);
    }
    GHM_CHECK(ptr != nullptr, backend_->name(), ": out of memory allocating ", mib(size), " MiB (",
              mib(stats_.allocated_bytes), " MiB allocated by tensors, ", mib(stats_.reserved_bytes),
              " MiB reserved, peak ", mib(stats_.peak_allocated_bytes), " MiB)");
    ++stats_.device_allocations;
    stats_.reserved_bytes += size;
    stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  }
  live_.emplace(ptr, Block{block_size, stream});
  ++stats_.allocations;  // counted once it succeeded
  ++stats_.live_blocks;
  stats_.allocated_bytes += block_size;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return ptr;
}

void CachingAllocator::free(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = live_.find(ptr);
  GHM_CHECK(it != live_.end(), backend_->name(), " allocator: free of a pointer it did not allocate (or freed twice)");
  const Block block = it->second;
  live_.erase(it);
  --stats_.live_blocks;
  stats_.allocated_bytes -= block.size;
  if (caching_) {
    cached_[block.stream].emplace(block.size, ptr);
  } else {
    backend_->release(ptr);
    ++stats_.device_releases;
    stats_.reserved_bytes -= block.size;
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  for (auto& [stream, pool] : cached_) {
    for (const auto& [size, ptr] : pool) {
      backend_->release(ptr);
      ++stats_.device_releases;
      stats_.reserved_bytes -= size;
    }
  }
  cached_.clear();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

}  // namespace ghm::cuda
