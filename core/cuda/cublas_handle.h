// cuBLAS contexts as move-only owners, one per device and per host thread.
//
//   cublasHandle_t h = cuda::cublas_handle(device);   // this thread's context on `device`
//   GHM_CUBLAS_CHECK(cublasGemmEx(h, ..., cuda::gemm_compute_type(), CUBLAS_GEMM_DEFAULT));
//
// A handle is created on first use with its device current, bound to the legacy default stream
// (0) like every other kernel of this backend, with host pointer mode (alpha and beta are host
// floats) and atomics off (CUBLAS_ATOMICS_NOT_ALLOWED, so results do not depend on timing). It is
// destroyed when its thread exits (a cuBLAS handle must not be used by two threads at once).
//
// The TF32 switch (core/cuda/math_mode.h) is read on every cublas_handle() call, so a change takes
// effect at the next GEMM: when allowed, the handle's math mode is CUBLAS_TF32_TENSOR_OP_MATH and
// gemm_compute_type() is CUBLAS_COMPUTE_32F_FAST_TF32 (inputs rounded to TF32, float
// accumulation); otherwise CUBLAS_DEFAULT_MATH and CUBLAS_COMPUTE_32F (full float32).
//
// cuBLAS is column-major; our tensors are row-major. A row-major [r, c] matrix with row stride ld
// is, read by cuBLAS, the column-major [c, r] matrix (its transpose) with leading dimension ld. So
// the row-major product C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T: pass B first,
// then A, with m = N and n = M (core/cuda/matmul_cuda.cpp does exactly that).
//
// Only for translation units built with CUDA (GHM_WITH_CUDA=1): it includes cublas_v2.h.
#pragma once

#include <cublas_v2.h>

#include <utility>

namespace ghm::cuda {

// A cuBLAS context on the device that was current when it was made. Move-only; the destructor
// never throws (a failed cublasDestroy is printed to stderr).
class CublasHandle {
 public:
  CublasHandle();  // cublasCreate on the current device, then the stream and modes above
  ~CublasHandle();
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  CublasHandle(CublasHandle&& other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)), math_(other.math_) {}
  CublasHandle& operator=(CublasHandle&& other) noexcept;

  cublasHandle_t get() const { return handle_; }
  // Sets the math mode for the TF32 switch (a host-side setting; no call when it is unchanged).
  void apply_tf32(bool allowed);

 private:
  void reset() noexcept;

  cublasHandle_t handle_ = nullptr;
  cublasMath_t math_ = CUBLAS_DEFAULT_MATH;
};

// The calling thread's handle for `device` (0 <= device < 16), created on first use, with the
// math mode of the current TF32 switch.
cublasHandle_t cublas_handle(int device);

// The compute type of float32 GEMMs (cublasGemmEx, cublasGemmStridedBatchedEx) under the current
// TF32 switch: CUBLAS_COMPUTE_32F_FAST_TF32 when allowed, CUBLAS_COMPUTE_32F otherwise.
cublasComputeType_t gemm_compute_type();

}  // namespace ghm::cuda
