// Row-major single-precision GEMM on the CPU (Eigen underneath, multi-threaded with OpenMP when
// called outside a parallel region):
//
//   C[M, N] = alpha * op(A) * op(B) + beta * C,   op(A): [M, K], op(B): [K, N]
//
// lda/ldb/ldc are the row strides (in elements) of A, B and C as stored.
#pragma once

#include <cstdint>

namespace ghm::cpu {

enum class Trans : bool { No, Yes };

void gemm(Trans trans_a, Trans trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc);

}  // namespace ghm::cpu
