#include "core/storage.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

#include "core/check.h"
#include "core/cpu/large_block_cache.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_memory.h"
#endif

namespace ghm {
namespace {
std::atomic<std::int64_t> g_live_blocks{0};
std::atomic<std::int64_t> g_live_bytes{0};
std::atomic<std::int64_t> g_host_bytes{0};
std::atomic<std::int64_t> g_host_peak{0};

void add_host_bytes(std::int64_t bytes) {
  const std::int64_t now = g_host_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  std::int64_t peak = g_host_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_host_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
}  // namespace

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cuda()) {
#if GHM_WITH_CUDA
    data_ = cuda::device_allocator(device.index).allocate(bytes);
#else
    GHM_FAIL("cannot allocate ", bytes, " bytes on ", device,
             ": this build has no CUDA backend (configure with -DGHM_CUDA=ON on a machine with the CUDA toolkit)");
#endif
  } else if (bytes > 0) {
    data_ = cpu::allocate_host_block(bytes);  // 64-byte aligned; large blocks are reused
    if (data_ == nullptr) throw std::bad_alloc();
  }
  if (device.is_cpu()) add_host_bytes(static_cast<std::int64_t>(bytes));
  g_live_blocks.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
}

Storage::~Storage() {
  if (device_.is_cuda()) {
#if GHM_WITH_CUDA
    try {
      cuda::device_allocator(device_.index).free(data_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: freeing %zu bytes on %s: %s\n", bytes_, device_.to_string().c_str(), e.what());
    }
#endif
  } else {
    cpu::free_host_block(data_, bytes_);
    g_host_bytes.fetch_sub(static_cast<std::int64_t>(bytes_), std::memory_order_relaxed);
  }
  g_live_blocks.fetch_sub(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(bytes_), std::memory_order_relaxed);
}

std::int64_t Storage::live_blocks() { return g_live_blocks.load(); }
std::int64_t Storage::live_bytes() { return g_live_bytes.load(); }
std::int64_t Storage::host_live_bytes() { return g_host_bytes.load(); }
std::int64_t Storage::host_peak_bytes() { return g_host_peak.load(); }
void Storage::reset_host_peak() { g_host_peak.store(g_host_bytes.load()); }

}  // namespace ghm
