// The cuBLAS owner of cublas_handle.h. A plain C++ file (host compiler only).
#include "core/cuda/cublas_handle.h"

#include "core/check.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/math_mode.h"
#include "core/cuda/thread_handle.h"

namespace ghm::cuda {

CublasHandle::CublasHandle() {
  GHM_CUBLAS_CHECK(cublasCreate(&handle_));
  try {
    // Stream 0 is the legacy default stream: this backend is never compiled with per-thread
    // default streams, and every kernel and copy is queued there, so cuBLAS's work is ordered
    // with them.
    GHM_CUBLAS_CHECK(cublasSetStream(handle_, nullptr));
    GHM_CUBLAS_CHECK(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST));
    GHM_CUBLAS_CHECK(cublasSetAtomicsMode(handle_, CUBLAS_ATOMICS_NOT_ALLOWED));
    GHM_CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
    math_ = CUBLAS_DEFAULT_MATH;
  } catch (...) {
    reset();
    throw;
  }
}

CublasHandle::~CublasHandle() { reset(); }

CublasHandle& CublasHandle::operator=(CublasHandle&& other) noexcept {
  if (this != &other) {
    reset();
    handle_ = std::exchange(other.handle_, nullptr);
    math_ = other.math_;
  }
  return *this;
}

void CublasHandle::reset() noexcept {
  if (handle_ != nullptr) GHM_CUBLAS_WARN(cublasDestroy(handle_));
  handle_ = nullptr;
}

void CublasHandle::apply_tf32(bool allowed) {
  GHM_CHECK(handle_ != nullptr, "apply_tf32 on a moved-from CublasHandle");
  const cublasMath_t want = allowed ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
  if (want == math_) return;
  GHM_CUBLAS_CHECK(cublasSetMathMode(handle_, want));
  math_ = want;
}

cublasHandle_t cublas_handle(int device) {
  CublasHandle& handle = thread_handle<CublasHandle>(device, "cublas_handle");
  handle.apply_tf32(tf32_allowed());
  return handle.get();
}

cublasComputeType_t gemm_compute_type() {
  return tf32_allowed() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

}  // namespace ghm::cuda
