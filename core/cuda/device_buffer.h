// A move-only owner of raw device memory for tests and tools that work below the tensor level
// (tensors take their memory from the caching allocator; cuBLAS and cuDNN handles and descriptors
// are owned by core/cuda/cublas_handle.h and core/cuda/cudnn_handle.h).
//
//   DeviceBuffer<float> x(n);          // cudaMalloc of n floats (n == 0: no allocation)
//   x.copy_from_host(host);            // host.size() must equal x.size()
//   std::vector<float> back = x.to_host();
//
// It allocates in its constructor and frees in its destructor, which never throws: a failed release
// is printed to stderr (GHM_CUDA_WARN). A moved-from buffer is empty (null pointer, size 0) and may
// be assigned to or destroyed.
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

}  // namespace ghm
