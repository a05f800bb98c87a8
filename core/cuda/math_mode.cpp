// The TF32 switch of core/cuda/math_mode.h: one process-wide flag, initialised from GHM_CUDA_TF32.
#include "core/cuda/math_mode.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ghm::cuda {
namespace {

bool tf32_from_environment() {
  const char* v = std::getenv("GHM_CUDA_TF32");
  return v == nullptr || !(std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "false") == 0);
}

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag{tf32_from_environment()};
  return flag;
}

}  // namespace

bool tf32_allowed() { return tf32_flag().load(std::memory_order_relaxed); }
void set_tf32_allowed(bool allowed) { tf32_flag().store(allowed, std::memory_order_relaxed); }

}  // namespace ghm::cuda
