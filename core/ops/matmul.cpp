// matmul: C = A B, forward and backward side by side.
//
//   dA = dC B^T      [M, N] x [N, K]
//   dB = A^T dC      [K, M] x [M, N]
//
// Batched operands loop over B with one GEMM each.
#include "core/ops/matmul.h"

#include "core/autograd.h"
#include "core/cpu/gemm.h"

namespace ghm {
namespace {

struct Dims {
  std::int64_t batch, m, k, n;
};

Dims check_matmul(const Tensor& a, const Tensor& b) {
  check_dtype(a, DType::F32, "matmul", "a");
  check_dtype(b, DType::F32, "matmul", "b");
  GHM_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0)),
            "matmul: shapes ", a.shape(), " and ", b.shape(), " are neither [M,K]x[K,N] nor [B,M,K]x[B,K,N]");
  const int o = a.dim() - 2;
  GHM_CHECK(a.shape()[o + 1] == b.shape()[o], "matmul: inner extents differ in ", a.shape(), " x ", b.shape());
  return {o ? a.size(0) : 1, a.shape()[o], a.shape()[o + 1], b.shape()[o + 1]};
}

// C[b] = op(A[b]) op(B[b]) for shapes given as stored.
void batched_gemm(cpu::Trans ta, cpu::Trans tb, std::int64_t batch, std::int64_t M, std::int64_t N, std::int64_t K,
                  const float* A, std::int64_t a_rows, std::int64_t a_cols, const float* B, std::int64_t b_rows,
                  std::int64_t b_cols, float* C) {
  for (std::int64_t i = 0; i < batch; ++i)
    cpu::gemm(ta, tb, M, N, K, 1.0f, A + i * a_rows * a_cols, a_cols, B + i * b_rows * b_cols, b_cols, 0.0f,
              C + i * M * N, N);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const Dims d = check_matmul(a, b);
  const Shape out_shape = a.dim() == 2 ? Shape{d.m, d.n} : Shape{d.batch, d.m, d.n};
  Tensor out = Tensor::empty(out_shape);
  batched_gemm(cpu::Trans::No, cpu::Trans::No, d.batch, d.m, d.n, d.k, a.data<float>(), d.m, d.k, b.data<float>(), d.k,
               d.n, out.data<float>());
  record_op(out, "matmul", {&a, &b}, [d, a_saved = a.detach(), b_saved = b.detach(), need_a = needs_grad({&a}),
                                      need_b = needs_grad({&b})](const Tensor& g) {
    Tensor da, db;
    if (need_a) {
      da = Tensor::empty(a_saved.shape());
      batched_gemm(cpu::Trans::No, cpu::Trans::Yes, d.batch, d.m, d.k, d.n, g.data<float>(), d.m, d.n,
                   b_saved.data<float>(), d.k, d.n, da.data<float>());
    }
    if (need_b) {
      db = Tensor::empty(b_saved.shape());
      batched_gemm(cpu::Trans::Yes, cpu::Trans::No, d.batch, d.k, d.n, d.m, a_saved.data<float>(), d.m, d.k,
                   g.data<float>(), d.m, d.n, db.data<float>());
    }
    return std::vector<Tensor>{da, db};
  });
  return out;
}

}  // namespace ghm
