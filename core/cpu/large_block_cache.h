// Reuse of large host blocks. glibc serves a block of 32 MiB or more with a fresh mmap and gives it
// back with munmap on free, so every large tensor of every iteration starts as untouched pages that
// the kernel faults in and zeroes one by one (a RetinaNet-R50 inference at 800x1216 spent 12-16% of
// its time there). Freed large blocks can therefore be kept, by size rounded up to 2 MiB, and handed
// out again for the next request of that rounded size, up to a byte limit beyond which freed blocks
// go back to the system as before. Blocks are 64-byte aligned, as every CPU tensor.
//
// The cached bytes add to the process's peak memory (up to the limit), which buys 10-16% of an
// inference but only 2-3% of a training step, so the cache is off by default and the inference
// commands (eval, detect, bench train --mode infer) turn it on with 256 MiB.
// GHM_CPU_CACHE_MB overrides the limit everywhere (0 = off).
#pragma once

#include <cstddef>

namespace ghm::cpu {

constexpr std::size_t kLargeBlockBytes = std::size_t{32} << 20;  // smaller blocks: plain aligned_alloc

// A block of at least `bytes` (any size; small ones bypass the cache), or nullptr when the system
// has no memory. Release with free_host_block(ptr, bytes) with the same `bytes`.
void* allocate_host_block(std::size_t bytes);
void free_host_block(void* ptr, std::size_t bytes) noexcept;

// Bytes held in the cache right now, and its limit (the test hooks below change it).
std::size_t host_cache_bytes();
std::size_t host_cache_limit();
void set_host_cache_limit(std::size_t bytes);  // releases what no longer fits
void empty_host_cache();

// The inference setting: kInferenceCacheBytes, unless GHM_CPU_CACHE_MB says otherwise.
constexpr std::size_t kInferenceCacheBytes = std::size_t{256} << 20;
void enable_host_cache_for_inference();

}  // namespace ghm::cpu
