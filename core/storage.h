// Storage: one reference-counted block of tensor memory. CPU blocks are 64-byte aligned so that
// AVX-512 loads of a whole row never straddle a cache line at the start; large ones are reused
// after free (core/cpu/large_block_cache.h), CUDA ones come from the device's caching allocator. Live blocks are counted,
// so tests can check that autograd frees what it saved.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ghm {

class Storage {
 public:
  static constexpr std::size_t kAlignment = 64;

  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

  // Blocks and bytes alive right now in this process (all devices).
  static std::int64_t live_blocks();
  static std::int64_t live_bytes();
  // The most bytes that host (CPU) tensors held at once since the last reset_host_peak(), which
  // sets it to what they hold now: the tensors' own high-water mark, whatever the allocator keeps.
  static std::int64_t host_live_bytes();  // host (CPU) tensors alone
  static std::int64_t host_peak_bytes();
  static void reset_host_peak();

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
};

}  // namespace ghm
