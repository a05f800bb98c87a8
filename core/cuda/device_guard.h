// Makes a CUDA device current for a scope and restores the previous one on exit, so that kernels
// of a tensor on cuda:i launch on device i whatever the calling thread had selected.
//
//   { cuda::DeviceGuard guard(t.device().index); launch(...); }
//
// Pure C++ declaration; defined in device_memory.cpp, which is built only with CUDA.
#pragma once

namespace ghm::cuda {

class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

}  // namespace ghm::cuda
