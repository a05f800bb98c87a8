// The cuDNN owners of cudnn_handle.h. A plain C++ file (host compiler only).
#include "core/cuda/cudnn_handle.h"

#include <limits>

#include "core/check.h"
#include "core/cuda/thread_handle.h"

namespace ghm::cuda {
namespace cudnn_detail {

int to_int(std::int64_t value, const char* what) {
  GHM_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(), "cuDNN: ", what, " = ", value,
            " does not fit the 32-bit extents of cuDNN's descriptors");
  return static_cast<int>(value);
}

}  // namespace cudnn_detail

using cudnn_detail::to_int;

CudnnHandle::CudnnHandle() {
  // Stream 0 is the legacy default stream: this backend is never compiled with per-thread default
  // streams, and every kernel and copy is queued there, so cuDNN's work is ordered with them.
  GHM_CUDNN_CHECK(cudnnSetStream(handle_.get(), nullptr));
}

cudnnHandle_t cudnn_handle(int device) { return thread_handle<CudnnHandle>(device, "cudnn_handle").get(); }

TensorDescriptor::TensorDescriptor(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                   cudnnDataType_t type) {
  // Each extent must fit an int (to_int), and so must the element count: larger tensors are refused
  // rather than risked with the legacy API (PyTorch splits such batches before calling cuDNN).
  GHM_CHECK(n * c * h * w <= std::numeric_limits<int>::max(), "cuDNN: a tensor [", n, ", ", c, ", ", h, ", ", w,
            "] has more than 2^31 - 1 elements, more than this backend hands to cuDNN's 4-D descriptors");
  GHM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc_.get(), CUDNN_TENSOR_NCHW, type, to_int(n, "N"),
                                             to_int(c, "C"), to_int(h, "H"), to_int(w, "W")));
}

FilterDescriptor::FilterDescriptor(std::int64_t o, std::int64_t c_per_group, std::int64_t kh, std::int64_t kw,
                                   cudnnDataType_t type) {
  // Unlike cudnnSetTensor4dDescriptor, the data type comes before the format here.
  GHM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(desc_.get(), type, CUDNN_TENSOR_NCHW, to_int(o, "O"),
                                             to_int(c_per_group, "C/groups"), to_int(kh, "KH"), to_int(kw, "KW")));
}

ConvolutionDescriptor::ConvolutionDescriptor(const Conv2dParams& p, cudnnMathType_t math) {
  GHM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(desc_.get(), p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dilation_h,
                                                  p.dilation_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  GHM_CUDNN_CHECK(cudnnSetConvolutionGroupCount(desc_.get(), p.groups));
  set_math_type(math);
}

void ConvolutionDescriptor::set_math_type(cudnnMathType_t math) {
  GHM_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_.get(), math));
}

ReluDescriptor::ReluDescriptor() {
  // For CUDNN_ACTIVATION_RELU the coefficient is an upper bound on the output: none here.
  GHM_CUDNN_CHECK(cudnnSetActivationDescriptor(desc_.get(), CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN,
                                               std::numeric_limits<double>::max()));
}

}  // namespace ghm::cuda
