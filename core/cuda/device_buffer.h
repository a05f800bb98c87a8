// Move-only owners of CUDA resources: a typed device buffer and the cuBLAS / cuDNN handles and
// tensor descriptors the CUDA backend needs.
//
//   DeviceBuffer<float> x(n);          // cudaMalloc of n floats (n == 0: no allocation)
//   x.copy_from_host(host);            // host.size() must equal x.size()
//   std::vector<float> back = x.to_host();
//
// Each class acquires in its constructor and releases in its destructor. Destructors never throw:
// a failed release is printed to stderr (GHM_CUDA_WARN). A moved-from object is empty (null
// pointer or handle, size 0) and may be assigned to or destroyed.
//
// Only for translation units built with CUDA (GHM_WITH_CUDA=1).
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/cuda/cuda_check.h"

namespace ghm {

template <class T>
class DeviceBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "DeviceBuffer holds trivially copyable element types");

 public:
  DeviceBuffer() = default;

  explicit DeviceBuffer(std::size_t size) : size_(size) {
    GHM_CHECK(size <= std::numeric_limits<std::size_t>::max() / sizeof(T), "DeviceBuffer of ", size,
              " elements of ", sizeof(T), " bytes overflows size_t");
    if (size_ > 0) GHM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), bytes()));
  }

  ~DeviceBuffer() { release(); }

  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  bool empty() const { return size_ == 0; }
  T* data() { return data_; }
  const T* data() const { return data_; }

  // Synchronous copies of the whole buffer; the host range must hold exactly size() elements.
  void copy_from_host(std::span<const T> host) {
    GHM_CHECK(host.size() == size_, "copy_from_host: host range has ", host.size(),
              " elements, device buffer has ", size_);
    if (size_ > 0) GHM_CUDA_CHECK(cudaMemcpy(data_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }

  void copy_to_host(std::span<T> host) const {
    GHM_CHECK(host.size() == size_, "copy_to_host: host range has ", host.size(),
              " elements, device buffer has ", size_);
    if (size_ > 0) GHM_CUDA_CHECK(cudaMemcpy(host.data(), data_, bytes(), cudaMemcpyDeviceToHost));
  }

  std::vector<T> to_host() const {
    std::vector<T> host(size_);
    copy_to_host(host);
    return host;
  }

 private:
  void release() noexcept {
    if (data_ != nullptr) GHM_CUDA_WARN(cudaFree(data_));
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// A cuBLAS context on the current device.
class CublasHandle {
 public:
  CublasHandle() { GHM_CUBLAS_CHECK(cublasCreate(&handle_)); }
  ~CublasHandle() {
    if (handle_ != nullptr) GHM_CUBLAS_WARN(cublasDestroy(handle_));
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  CublasHandle(CublasHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CublasHandle& operator=(CublasHandle&& other) noexcept {
    if (this != &other) {
      if (handle_ != nullptr) GHM_CUBLAS_WARN(cublasDestroy(handle_));
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }

  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

// A cuDNN context on the current device.
class CudnnHandle {
 public:
  CudnnHandle() { GHM_CUDNN_CHECK(cudnnCreate(&handle_)); }
  ~CudnnHandle() {
    if (handle_ != nullptr) GHM_CUDNN_WARN(cudnnDestroy(handle_));
  }
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  CudnnHandle(CudnnHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CudnnHandle& operator=(CudnnHandle&& other) noexcept {
    if (this != &other) {
      if (handle_ != nullptr) GHM_CUDNN_WARN(cudnnDestroy(handle_));
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }

  cudnnHandle_t get() const { return handle_; }

 private:
  cudnnHandle_t handle_ = nullptr;
};

// A 4-D float32 tensor descriptor in NCHW layout (fully packed).
class CudnnTensorDescriptor {
 public:
  CudnnTensorDescriptor(int n, int c, int h, int w) {
    GHM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
    try {
      set_nchw(n, c, h, w);
    } catch (...) {
      GHM_CUDNN_WARN(cudnnDestroyTensorDescriptor(desc_));
      throw;
    }
  }
  ~CudnnTensorDescriptor() {
    if (desc_ != nullptr) GHM_CUDNN_WARN(cudnnDestroyTensorDescriptor(desc_));
  }
  CudnnTensorDescriptor(const CudnnTensorDescriptor&) = delete;
  CudnnTensorDescriptor& operator=(const CudnnTensorDescriptor&) = delete;
  CudnnTensorDescriptor(CudnnTensorDescriptor&& other) noexcept : desc_(std::exchange(other.desc_, nullptr)) {}
  CudnnTensorDescriptor& operator=(CudnnTensorDescriptor&& other) noexcept {
    if (this != &other) {
      if (desc_ != nullptr) GHM_CUDNN_WARN(cudnnDestroyTensorDescriptor(desc_));
      desc_ = std::exchange(other.desc_, nullptr);
    }
    return *this;
  }

  // Reshape in place (cuDNN descriptors are cheap to re-set; no reallocation).
  void set_nchw(int n, int c, int h, int w) {
    GHM_CHECK(desc_ != nullptr, "set_nchw on a moved-from CudnnTensorDescriptor");
    GHM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
  }

  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

}  // namespace ghm
