#include "core/cuda/device_memory.h"

#include <array>
#include <memory>
#include <mutex>
#include <string>

#include "core/cuda/cuda_check.h"
#include "core/cuda/device_guard.h"

namespace ghm::cuda {
namespace {

class CudaMemory final : public MemoryBackend {
 public:
  explicit CudaMemory(int device) : device_(device) {}

  void* allocate(std::size_t bytes) override {
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it, the allocator retries or reports
      return nullptr;
    }
    GHM_CUDA_CHECK(status);
    return ptr;
  }

  void release(void* ptr) override {
    DeviceGuard guard(device_);
    GHM_CUDA_WARN(cudaFree(ptr));
  }

  std::string name() const override { return "cuda:" + std::to_string(device_); }

 private:
  int device_;
};

constexpr int kMaxDevices = 16;

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  GHM_CUDA_CHECK(cudaGetDevice(&previous_));
  if (device != previous_) {
    GHM_CUDA_CHECK(cudaSetDevice(device));
    switched_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (switched_) GHM_CUDA_WARN(cudaSetDevice(previous_));
}

CachingAllocator& device_allocator(int device) {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no device: no CUDA device is visible
      n = 0;
    }
    return n;
  }();
  GHM_CHECK(device >= 0 && device < count && device < kMaxDevices, "cuda:", device, " does not exist (",
            count, " CUDA device(s) visible)");
  // Never destroyed: at exit the CUDA runtime may already be shut down when static destructors
  // run, and the driver reclaims the process's device memory anyway.
  static std::array<std::once_flag, kMaxDevices> once;
  static std::array<CachingAllocator*, kMaxDevices> allocators{};
  std::call_once(once[static_cast<std::size_t>(device)], [device] {
    allocators[static_cast<std::size_t>(device)] = new CachingAllocator(std::make_unique<CudaMemory>(device));
  });
  return *allocators[static_cast<std::size_t>(device)];
}

}  // namespace ghm::cuda
