// One library handle (cuBLAS, cuDNN) per thread and device, made on first use with that device
// current (the libraries bind a handle to the device that is current when it is created) and
// destroyed at thread exit, which runs before the process's static destructors. A handle is not
// shared between threads, so no lock is needed.
//
//   cublasHandle_t h = thread_handle<CublasHandle>(device, "cublas_handle").get();
//
// Pure C++; used by the host files of the CUDA backend.
#pragma once

#include <array>
#include <cstddef>
#include <optional>

#include "core/check.h"
#include "core/cuda/device_guard.h"

namespace ghm::cuda {

inline constexpr int kMaxDevices = 16;  // as the device allocators (device_memory.cpp)

template <class Handle>
Handle& thread_handle(int device, const char* what) {
  GHM_CHECK(device >= 0 && device < kMaxDevices, what, ": cuda:", device, " is out of range (at most ", kMaxDevices,
            " devices)");
  thread_local std::array<std::optional<Handle>, kMaxDevices> handles;
  std::optional<Handle>& slot = handles[static_cast<std::size_t>(device)];
  if (!slot) {
    const DeviceGuard guard(device);
    slot.emplace();
  }
  return *slot;
}

}  // namespace ghm::cuda
