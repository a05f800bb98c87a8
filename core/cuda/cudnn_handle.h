// cuDNN contexts and descriptors as move-only owners.
//
//   cudnnHandle_t h = cuda::cudnn_handle(device);        // this thread's context on `device`
//   const cuda::TensorDescriptor x(n, c, h, w);            // float32, NCHW, packed
//   const cuda::FilterDescriptor w(o, c / groups, kh, kw); // float32, OIHW ("NCHW" for filters)
//   cuda::ConvolutionDescriptor conv(params, CUDNN_FMA_MATH);
//   cudnnConvolutionForward(h, ..., x.get(), ..., w.get(), ..., conv.get(), ...);
//
// Each owner creates its cuDNN object in the constructor and destroys it in the destructor; a
// destructor never throws (a failed destroy is printed to stderr, GHM_CUDNN_WARN). A moved-from
// owner holds nothing and may be assigned to or destroyed. Descriptors are cheap (host memory
// only): callers build them per call rather than share them between threads.
//
// Handles: one per device and per host thread (a cuDNN handle must not be used by two threads at
// once), created on first use with that device current, bound to the legacy default stream (0)
// like every other kernel of this backend, and destroyed when the thread exits.
//
// Only for translation units built with CUDA (GHM_WITH_CUDA=1): it includes cudnn.h.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <utility>

#include "core/cuda/cuda_check.h"
#include "core/ops/conv.h"

namespace ghm::cuda {
namespace cudnn_detail {

// Owns one cuDNN object of type T, made by Create and released by Destroy.
template <class T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class Owned {
 public:
  Owned() { GHM_CUDNN_CHECK(Create(&object_)); }
  ~Owned() { reset(); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      reset();
      object_ = std::exchange(other.object_, nullptr);
    }
    return *this;
  }

  T get() const { return object_; }

 private:
  void reset() noexcept {
    if (object_ != nullptr) GHM_CUDNN_WARN(Destroy(object_));
    object_ = nullptr;
  }

  T object_ = nullptr;
};

// A cuDNN dimension from one of ours; throws when it does not fit the int the legacy API takes.
int to_int(std::int64_t value, const char* what);

}  // namespace cudnn_detail

// A cuDNN context on the device that was current when it was created, on the legacy default stream.
class CudnnHandle {
 public:
  CudnnHandle();
  cudnnHandle_t get() const { return handle_.get(); }

 private:
  cudnn_detail::Owned<cudnnHandle_t, cudnnCreate, cudnnDestroy> handle_;
};

// The calling thread's handle for `device` (0 <= device < 16), created on first use.
cudnnHandle_t cudnn_handle(int device);

// A packed NCHW tensor [n, c, h, w] of `type` (float32 unless a low-precision convolution says
// otherwise); every extent at least 1, at most 2^31 - 1 elements.
class TensorDescriptor {
 public:
  TensorDescriptor(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                   cudnnDataType_t type = CUDNN_DATA_FLOAT);
  cudnnTensorDescriptor_t get() const { return desc_.get(); }

 private:
  cudnn_detail::Owned<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor> desc_;
};

// A packed filter [o, c_per_group, kh, kw] of `type` (OIHW, which cuDNN calls NCHW for filters).
class FilterDescriptor {
 public:
  FilterDescriptor(std::int64_t o, std::int64_t c_per_group, std::int64_t kh, std::int64_t kw,
                   cudnnDataType_t type = CUDNN_DATA_FLOAT);
  cudnnFilterDescriptor_t get() const { return desc_.get(); }

 private:
  cudnn_detail::Owned<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor> desc_;
};

// A 2-D cross-correlation (PyTorch's conv2d) with float32 accumulation: padding, stride, dilation
// and groups from `p`, and the math type (CUDNN_FMA_MATH: no tensor cores; CUDNN_DEFAULT_MATH or
// CUDNN_TENSOR_OP_MATH: TF32 tensor cores allowed for float32 data, bf16/fp16 ones for 16-bit data,
// which then runs in cuDNN's pseudo-half configuration: 16-bit data, float32 compute).
class ConvolutionDescriptor {
 public:
  ConvolutionDescriptor(const Conv2dParams& p, cudnnMathType_t math);
  void set_math_type(cudnnMathType_t math);
  cudnnConvolutionDescriptor_t get() const { return desc_.get(); }

 private:
  cudnn_detail::Owned<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                      cudnnDestroyConvolutionDescriptor>
      desc_;
};

// y = max(x, 0) (CUDNN_ACTIVATION_RELU with no upper clip; NaN is not propagated).
class ReluDescriptor {
 public:
  ReluDescriptor();
  cudnnActivationDescriptor_t get() const { return desc_.get(); }

 private:
  cudnn_detail::Owned<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                      cudnnDestroyActivationDescriptor>
      desc_;
};

}  // namespace ghm::cuda
