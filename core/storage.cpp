#include "core/storage.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/check.h"

namespace ghm {
namespace {
std::atomic<std::int64_t> g_live_blocks{0};
std::atomic<std::int64_t> g_live_bytes{0};
}  // namespace

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  GHM_CHECK(device.is_cpu(), "cannot allocate ", bytes, " bytes on ", device,
            ": this version stores tensors on the CPU only");
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded > 0) {
    data_ = std::aligned_alloc(kAlignment, rounded);
    if (data_ == nullptr) throw std::bad_alloc();
  }
  g_live_blocks.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
}

Storage::~Storage() {
  std::free(data_);
  g_live_blocks.fetch_sub(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(bytes_), std::memory_order_relaxed);
}

std::int64_t Storage::live_blocks() { return g_live_blocks.load(); }
std::int64_t Storage::live_bytes() { return g_live_bytes.load(); }

}  // namespace ghm
