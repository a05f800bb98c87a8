// Error checks for CUDA runtime, cuBLAS and cuDNN calls.
//
//   GHM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
//   my_kernel<<<blocks, threads>>>(...);
//   GHM_CUDA_CHECK_LAUNCH();
//   GHM_CUBLAS_CHECK(cublasSgemm(handle, ...));
//   GHM_CUDNN_CHECK(cudnnConvolutionForward(handle, ...));
//
// On failure the *_CHECK macros throw ghm::Error with the library's error name and description,
// the statement text, file and line, e.g.
//   "cudaErrorMemoryAllocation: out of memory in 'cudaMalloc(&data_, bytes)' [at device_buffer.h:52]".
// The *_WARN macros print the same message to stderr and carry on: they are for destructors and
// other cleanup paths, which must never throw.
//
// Only for translation units built with CUDA (GHM_WITH_CUDA=1).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "core/check.h"

namespace ghm::cuda_detail {

inline std::string cuda_message(cudaError_t status, const char* statement) {
  return str_cat(cudaGetErrorName(status), ": ", cudaGetErrorString(status), " in '", statement, "'");
}

inline std::string cublas_message(cublasStatus_t status, const char* statement) {
  return str_cat(cublasGetStatusName(status), ": ", cublasGetStatusString(status), " in '", statement, "'");
}

inline std::string cudnn_message(cudnnStatus_t status, const char* statement) {
  // cudnnGetErrorString returns the enumerator's name, e.g. "CUDNN_STATUS_BAD_PARAM".
  return str_cat(cudnnGetErrorString(status), " in '", statement, "'");
}

// A failed runtime call also sets the thread's "last error". Non-sticky errors (a failed
// cudaMalloc, an invalid argument) are cleared here so that the next GHM_CUDA_CHECK_LAUNCH does not
// report them a second time against an innocent kernel. Sticky errors (a kernel fault) stay.
[[noreturn]] inline void throw_cuda(cudaError_t status, const char* statement, const char* file, int line) {
  (void)cudaGetLastError();
  throw_error(cuda_message(status, statement), nullptr, file, line);
}

[[noreturn]] inline void throw_cublas(cublasStatus_t status, const char* statement, const char* file, int line) {
  throw_error(cublas_message(status, statement), nullptr, file, line);
}

[[noreturn]] inline void throw_cudnn(cudnnStatus_t status, const char* statement, const char* file, int line) {
  throw_error(cudnn_message(status, statement), nullptr, file, line);
}

inline const char* file_base(const char* file) noexcept {
  const char* slash = std::strrchr(file, '/');
  return slash != nullptr ? slash + 1 : file;
}

// Print "warning: <name>: <description> in '<statement>' [at file:line]" to stderr; never throw.
inline void warn_cuda(cudaError_t status, const char* statement, const char* file, int line) noexcept {
  (void)cudaGetLastError();
  std::fprintf(stderr, "warning: %s: %s in '%s' [at %s:%d]\n", cudaGetErrorName(status),
               cudaGetErrorString(status), statement, file_base(file), line);
}

inline void warn_cublas(cublasStatus_t status, const char* statement, const char* file, int line) noexcept {
  std::fprintf(stderr, "warning: %s: %s in '%s' [at %s:%d]\n", cublasGetStatusName(status),
               cublasGetStatusString(status), statement, file_base(file), line);
}

inline void warn_cudnn(cudnnStatus_t status, const char* statement, const char* file, int line) noexcept {
  std::fprintf(stderr, "warning: %s in '%s' [at %s:%d]\n", cudnnGetErrorString(status), statement,
               file_base(file), line);
}

}  // namespace ghm::cuda_detail

#define GHM_CUDA_CHECK(expr)                                                                  \
  do {                                                                                        \
    const cudaError_t ghm_status_ = (expr);                                                   \
    if (ghm_status_ != cudaSuccess) [[unlikely]]                                              \
      ::ghm::cuda_detail::throw_cuda(ghm_status_, #expr, __FILE__, __LINE__);                 \
  } while (0)

#define GHM_CUBLAS_CHECK(expr)                                                                \
  do {                                                                                        \
    const cublasStatus_t ghm_status_ = (expr);                                                \
    if (ghm_status_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                                    \
      ::ghm::cuda_detail::throw_cublas(ghm_status_, #expr, __FILE__, __LINE__);               \
  } while (0)

#define GHM_CUDNN_CHECK(expr)                                                                 \
  do {                                                                                        \
    const cudnnStatus_t ghm_status_ = (expr);                                                 \
    if (ghm_status_ != CUDNN_STATUS_SUCCESS) [[unlikely]]                                     \
      ::ghm::cuda_detail::throw_cudnn(ghm_status_, #expr, __FILE__, __LINE__);                \
  } while (0)

// After a kernel launch: reports a bad launch configuration (or an earlier sticky fault) without
// synchronising. Errors inside the kernel surface at the next synchronising call.
#define GHM_CUDA_CHECK_LAUNCH()                                                               \
  do {                                                                                        \
    const cudaError_t ghm_status_ = cudaGetLastError();                                       \
    if (ghm_status_ != cudaSuccess) [[unlikely]]                                              \
      ::ghm::cuda_detail::throw_cuda(ghm_status_, "kernel launch", __FILE__, __LINE__);       \
  } while (0)

#define GHM_CUDA_WARN(expr)                                                                   \
  do {                                                                                        \
    const cudaError_t ghm_status_ = (expr);                                                   \
    if (ghm_status_ != cudaSuccess) [[unlikely]]                                              \
      ::ghm::cuda_detail::warn_cuda(ghm_status_, #expr, __FILE__, __LINE__);                  \
  } while (0)

#define GHM_CUBLAS_WARN(expr)                                                                 \
  do {                                                                                        \
    const cublasStatus_t ghm_status_ = (expr);                                                \
    if (ghm_status_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                                    \
      ::ghm::cuda_detail::warn_cublas(ghm_status_, #expr, __FILE__, __LINE__);                \
  } while (0)

#define GHM_CUDNN_WARN(expr)                                                                  \
  do {                                                                                        \
    const cudnnStatus_t ghm_status_ = (expr);                                                 \
    if (ghm_status_ != CUDNN_STATUS_SUCCESS) [[unlikely]]                                     \
      ::ghm::cuda_detail::warn_cudnn(ghm_status_, #expr, __FILE__, __LINE__);                 \
  } while (0)
