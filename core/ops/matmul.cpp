// matmul: C = A B, forward and backward side by side.
//
//   dA = dC B^T      [M, N] x [N, K]
//   dB = A^T dC      [K, M] x [M, N]
//
// Batched operands: on the CPU one GEMM per batch entry; on CUDA one strided-batched cuBLAS call
// (core/cuda/matmul_cuda.h, the twin of core/cpu/gemm.h).
#include "core/ops/matmul.h"

#include "core/autograd.h"
#include "core/cpu/gemm.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/matmul_cuda.h"
#endif

namespace ghm {
namespace {

struct Dims {
  std::int64_t batch, m, k, n;
};

Dims check_matmul(const Tensor& a, const Tensor& b) {
  check_dtype(a, DType::F32, "matmul", "a");
  check_dtype(b, DType::F32, "matmul", "b");
  GHM_CHECK(a.device() == b.device(), "matmul: operands on different devices (", a.device(), " and ", b.device(),
            ")");
  GHM_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0)),
            "matmul: shapes ", a.shape(), " and ", b.shape(), " are neither [M,K]x[K,N] nor [B,M,K]x[B,K,N]");
  const int o = a.dim() - 2;
  GHM_CHECK(a.shape()[o + 1] == b.shape()[o], "matmul: inner extents differ in ", a.shape(), " x ", b.shape());
  return {o ? a.size(0) : 1, a.shape()[o], a.shape()[o + 1], b.shape()[o + 1]};
}

// C[b] = op(A[b]) op(B[b]) for shapes given as stored, on C's device (A and B are there too).
//   A: [batch, a_rows, a_cols], B: [batch, b_rows, b_cols], C: [batch, M, N]
void batched_gemm(cpu::Trans ta, cpu::Trans tb, std::int64_t batch, std::int64_t M, std::int64_t N, std::int64_t K,
                  const Tensor& A, std::int64_t a_rows, std::int64_t a_cols, const Tensor& B, std::int64_t b_rows,
                  std::int64_t b_cols, Tensor& C) {
#if GHM_WITH_CUDA
  if (C.device().is_cuda()) {
    const cuda::DeviceGuard guard(C.device().index);
    cuda::gemm_batched(ta, tb, batch, M, N, K, 1.0f, A.device_data<float>(), a_cols, a_rows * a_cols,
                       B.device_data<float>(), b_cols, b_rows * b_cols, 0.0f, C.device_data<float>(), N, M * N);
    return;
  }
#endif
  const float* a = A.data<float>();
  const float* b = B.data<float>();
  float* c = C.data<float>();
  for (std::int64_t i = 0; i < batch; ++i)
    cpu::gemm(ta, tb, M, N, K, 1.0f, a + i * a_rows * a_cols, a_cols, b + i * b_rows * b_cols, b_cols, 0.0f,
              c + i * M * N, N);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const Dims d = check_matmul(a, b);
  const Shape out_shape = a.dim() == 2 ? Shape{d.m, d.n} : Shape{d.batch, d.m, d.n};
  Tensor out = Tensor::empty(out_shape, DType::F32, a.device());
  batched_gemm(cpu::Trans::No, cpu::Trans::No, d.batch, d.m, d.n, d.k, a, d.m, d.k, b, d.k, d.n, out);
  record_op(out, "matmul", {&a, &b}, [d, a_saved = a.detach(), b_saved = b.detach(), need_a = needs_grad({&a}),
                                      need_b = needs_grad({&b})](const Tensor& g) {
    GHM_CHECK(g.device() == a_saved.device(), "matmul backward: gradient on ", g.device(), ", operands on ",
              a_saved.device());
    Tensor da, db;
    if (need_a) {
      da = Tensor::empty(a_saved.shape(), DType::F32, a_saved.device());
      batched_gemm(cpu::Trans::No, cpu::Trans::Yes, d.batch, d.m, d.k, d.n, g, d.m, d.n, b_saved, d.k, d.n, da);
    }
    if (need_b) {
      db = Tensor::empty(b_saved.shape(), DType::F32, b_saved.device());
      batched_gemm(cpu::Trans::Yes, cpu::Trans::No, d.batch, d.k, d.n, d.m, a_saved, d.m, d.k, g, d.m, d.n, db);
    }
    return std::vector<Tensor>{da, db};
  });
  return out;
}

}  // namespace ghm
