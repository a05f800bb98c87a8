// Row-major GEMM on cuBLAS (core/cuda/matmul_cuda.h). A plain C++ file (host compiler only).
//
// cuBLAS is column-major. A row-major [r, c] matrix with row stride ld, read column-major, is its
// transpose [c, r] with leading dimension ld. Hence
//
//   row-major  C[M, N] = op(A) op(B)   <=>   column-major  C^T[N, M] = op(B)^T op(A)^T
//
// and one cuBLAS call computes it with the operands swapped:
//
//   cublasGemmEx(transa = trans_b, transb = trans_a, m = N, n = M, k = K,
//                B, ldb,  A, lda,  C, ldc)
//
// The flags carry over unchanged: B not transposed is stored [K, N], which cuBLAS reads as the
// [N, K] matrix B^T = op(B)^T, so its op is N; B transposed is stored [N, K], read as [K, N] = B,
// and op(B)^T = B^T needs op T. Likewise for A. Leading dimensions: cuBLAS wants at least the row
// count of each operand as it reads it, i.e. our row lengths: ldb >= (trans_b ? K : N),
// lda >= (trans_a ? M : K), ldc >= N; checked below (with a message naming ours).
//
// The batched form is cublasGemmStridedBatchedEx with the same mapping and the strides as given.
// K == 0 (an empty sum) never reaches cuBLAS, which rejects leading dimensions of 0: C = beta * C
// is done with a 2-D memset (beta == 0, C not read) or cublasSscal.
#include "core/cuda/matmul_cuda.h"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "core/check.h"
#include "core/cuda/cublas_handle.h"
#include "core/cuda/cuda_check.h"

namespace ghm::cuda {
namespace {

// Batches are split into calls of at most this many products: a conservative bound below the
// 65535 that some cuBLAS kernels can map onto one grid dimension.
constexpr std::int64_t kMaxBatchPerCall = 63 * 1024;

int to_int(std::int64_t value, const char* what) {
  GHM_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(), "gemm: ", what, " = ", value,
            " does not fit the 32-bit extents cuBLAS takes");
  return static_cast<int>(value);
}

cublasOperation_t to_op(Trans t) { return t == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N; }

int current_device() {
  int device = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

void check_leading_dims(Trans trans_a, Trans trans_b, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t lda,
                        std::int64_t ldb, std::int64_t ldc) {
  const std::int64_t a_row = trans_a == Trans::Yes ? M : K, b_row = trans_b == Trans::Yes ? K : N;
  GHM_CHECK(lda >= a_row && ldb >= b_row && ldc >= N, "gemm: row strides lda = ", lda, ", ldb = ", ldb, ", ldc = ",
            ldc, " are shorter than the rows (", a_row, ", ", b_row, ", ", N, ")");
}

// C[b] = beta * C[b] for every b: the K == 0 product (nothing is added).   C: [batch, M, N] as strided
void scale_output(cublasHandle_t handle, std::int64_t batch, std::int64_t M, std::int64_t N, float beta, float* C,
                  std::int64_t ldc, std::int64_t stride_c) {
  if (beta == 1.0f) return;
  if (beta == 0.0f) {
    const std::size_t pitch = static_cast<std::size_t>(ldc) * sizeof(float);
    const std::size_t width = static_cast<std::size_t>(N) * sizeof(float);
    if (stride_c == M * ldc) {  // the matrices follow one another: one 2-D fill of batch * M rows
      GHM_CUDA_CHECK(cudaMemset2DAsync(C, pitch, 0, width, static_cast<std::size_t>(batch * M), nullptr));
      return;
    }
    for (std::int64_t b = 0; b < batch; ++b)
      GHM_CUDA_CHECK(cudaMemset2DAsync(C + b * stride_c, pitch, 0, width, static_cast<std::size_t>(M), nullptr));
    return;
  }
  for (std::int64_t b = 0; b < batch; ++b) {
    float* c = C + b * stride_c;
    if (ldc == N) {
      GHM_CUBLAS_CHECK(cublasSscal(handle, to_int(M * N, "M * N"), &beta, c, 1));
    } else {
      for (std::int64_t r = 0; r < M; ++r) GHM_CUBLAS_CHECK(cublasSscal(handle, to_int(N, "N"), &beta, c + r * ldc, 1));
    }
  }
}

}  // namespace

void gemm(Trans trans_a, Trans trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  gemm_batched(trans_a, trans_b, 1, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

void gemm_batched(Trans trans_a, Trans trans_b, std::int64_t batch, std::int64_t M, std::int64_t N, std::int64_t K,
                  float alpha, const float* A, std::int64_t lda, std::int64_t stride_a, const float* B,
                  std::int64_t ldb, std::int64_t stride_b, float beta, float* C, std::int64_t ldc,
                  std::int64_t stride_c) {
  GHM_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm: negative extent (batch ", batch, ", M ", M, ", N ", N,
            ", K ", K, ")");
  if (batch == 0 || M == 0 || N == 0) return;
  check_leading_dims(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  cublasHandle_t handle = cublas_handle(current_device());
  if (K == 0) {
    scale_output(handle, batch, M, N, beta, C, ldc, stride_c);
    return;
  }
  const cublasComputeType_t compute = gemm_compute_type();
  // The column-major product C^T = op(B)^T op(A)^T (see the top of this file).
  const int m = to_int(N, "N"), n = to_int(M, "M"), k = to_int(K, "K");
  const int ld_first = to_int(ldb, "ldb"), ld_second = to_int(lda, "lda"), ld_out = to_int(ldc, "ldc");
  if (batch == 1) {
    GHM_CUBLAS_CHECK(cublasGemmEx(handle, to_op(trans_b), to_op(trans_a), m, n, k, &alpha, B, CUDA_R_32F, ld_first, A,
                                  CUDA_R_32F, ld_second, &beta, C, CUDA_R_32F, ld_out, compute, CUBLAS_GEMM_DEFAULT));
    return;
  }
  for (std::int64_t first = 0; first < batch; first += kMaxBatchPerCall) {
    const int count = to_int(std::min(kMaxBatchPerCall, batch - first), "batch");
    GHM_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        handle, to_op(trans_b), to_op(trans_a), m, n, k, &alpha, B + first * stride_b, CUDA_R_32F, ld_first,
        static_cast<long long>(stride_b), A + first * stride_a, CUDA_R_32F, ld_second, static_cast<long long>(stride_a),
        &beta, C + first * stride_c, CUDA_R_32F, ld_out, static_cast<long long>(stride_c), count, compute,
        CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace ghm::cuda
