// Row-major single-precision GEMM on CUDA (cuBLAS): the twin of core/cpu/gemm.h, with the same
// name and arguments, plus the strided-batched form that batched matmul uses:
//
//   C[M, N] = alpha * op(A) * op(B) + beta * C,   op(A): [M, K], op(B): [K, N]
//
// lda/ldb/ldc are the row strides (in elements) of A, B and C as stored. Pointers are device
// memory of the current device; the work is queued on the legacy default stream. As in BLAS,
// beta == 0 means C is not read (NaN in C does not propagate). M == 0 or N == 0: nothing to do;
// K == 0: C = beta * C. float32 accumulation; TF32 tensor cores where core/cuda/math_mode.h
// allows them.
//
// Pure C++ declarations; defined in matmul_cuda.cpp, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "core/cpu/gemm.h"

namespace ghm::cuda {

using cpu::Trans;

// A: [M, K] (or [K, M] when trans_a), B: [K, N] (or [N, K] when trans_b), C: [M, N]; row-major.
void gemm(Trans trans_a, Trans trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc);

// The same product for each b in [0, batch), matrix b of each operand starting stride_* elements
// after matrix b-1:  C + b*stride_c = alpha * op(A + b*stride_a) * op(B + b*stride_b) + beta * (C + b*stride_c).
//   A: [batch, M, K] (or [batch, K, M]), B: [batch, K, N] (or [batch, N, K]), C: [batch, M, N] as strided
void gemm_batched(Trans trans_a, Trans trans_b, std::int64_t batch, std::int64_t M, std::int64_t N, std::int64_t K,
                  float alpha, const float* A, std::int64_t lda, std::int64_t stride_a, const float* B,
                  std::int64_t ldb, std::int64_t stride_b, float beta, float* C, std::int64_t ldc,
                  std::int64_t stride_c);

}  // namespace ghm::cuda
