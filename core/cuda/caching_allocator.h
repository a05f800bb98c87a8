// A caching allocator for device memory: tensors come and go every op, cudaMalloc and cudaFree
// synchronise the device and cost far more than a kernel, so freed blocks are kept and handed out
// again instead of being returned to the device.
//
// Policy:
//   - sizes are rounded up to 512 bytes (small) or to 128 KiB (above 1 MiB), so that a training loop
//     whose shapes repeat asks for a handful of distinct sizes;
//   - a free block is reused by a later request of the same stream only (stream-ordered reuse: work
//     queued on that stream before the free has finished before anything queued after the new
//     allocation starts, so no synchronisation is needed); other streams never see it;
//   - best fit: the smallest cached block of the stream that holds the request, if it wastes at
//     most a quarter of itself (blocks are not split, so waste is bounded this way instead);
//   - when the device refuses an allocation, every cached block is released and the request is
//     tried once more before the error (which reports the allocator's statistics);
//   - GHM_CUDA_NO_CACHING=1 in the environment turns caching off (every free goes back to the
//     device at once), for hunting memory bugs with compute-sanitizer.
//
// The allocator only decides; the device calls are a MemoryBackend (cudaMalloc / cudaFree for the
// GPU, core/cuda/device_memory.h), which lets the policy be tested without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ghm::cuda {

// The raw allocation calls of one device.
class MemoryBackend {
 public:
  virtual ~MemoryBackend() = default;
  virtual void* allocate(std::size_t bytes) = 0;  // nullptr when the device is out of memory
  virtual void release(void* ptr) = 0;
  virtual std::string name() const = 0;           // for error messages, e.g. "cuda:0"
};

using StreamId = std::uintptr_t;  // a cudaStream_t as an integer; 0 = the legacy default stream

struct AllocatorStats {
  std::size_t allocated_bytes = 0;       // held by live allocations (rounded sizes)
  std::size_t peak_allocated_bytes = 0;  // the largest allocated_bytes since construction / reset_peak
  std::size_t reserved_bytes = 0;        // obtained from the device: allocated + cached
  std::size_t peak_reserved_bytes = 0;
  std::int64_t allocations = 0;          // successful calls to allocate (size > 0)
  std::int64_t cache_hits = 0;           // of those, served from the cache
  std::int64_t device_allocations = 0;   // calls to the backend's allocate that succeeded
  std::int64_t device_releases = 0;
  std::int64_t live_blocks = 0;          // allocations not yet freed
};

class CachingAllocator {
 public:
  enum class Caching { On, Off, FromEnvironment };
  explicit CachingAllocator(std::unique_ptr<MemoryBackend> backend, Caching caching = Caching::FromEnvironment);
  // Returns the cached blocks to the device; live allocations at this point are reported on stderr
  // (a leak) and left alone.
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` for use on `stream`; nullptr for 0 bytes. Throws when the device
  // cannot provide it even after the cache was released.
  void* allocate(std::size_t bytes, StreamId stream = 0);
  // Gives a block back (nullptr: nothing). A pointer this allocator did not hand out is an error.
  void free(void* ptr);
  // Returns every cached (free) block to the device.
  void empty_cache();

  AllocatorStats stats() const;
  void reset_peak();
  bool caching() const { return caching_; }

  // The size actually reserved for a request of `bytes`.
  static std::size_t round_size(std::size_t bytes);

 private:
  struct Block {
    std::size_t size;
    StreamId stream;
  };
  void release_cached_locked();

  std::unique_ptr<MemoryBackend> backend_;
  bool caching_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, Block> live_;
  // Free blocks per stream, by size (best fit = lower_bound).
  std::map<StreamId, std::multimap<std::size_t, void*>> cached_;
  AllocatorStats stats_;
};

}  // namespace ghm::cuda
