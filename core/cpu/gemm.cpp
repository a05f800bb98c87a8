#include "core/cpu/gemm.h"

#include <Eigen/Core>

namespace ghm::cpu {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
using Map = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class L, class R>
void assign(Map& c, const L& lhs, const R& rhs, float alpha, float beta) {
  if (beta == 0.0f) c.noalias() = alpha * (lhs * rhs);
  else if (beta == 1.0f) c.noalias() += alpha * (lhs * rhs);
  else {
    c *= beta;
    c.noalias() += alpha * (lhs * rhs);
  }
}

}  // namespace

void gemm(Trans trans_a, Trans trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  Map c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == 0.0f) c.setZero();
    else c *= beta;
    return;
  }
  const bool ta = trans_a == Trans::Yes, tb = trans_b == Trans::Yes;
  ConstMap a(A, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));
  ConstMap b(B, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
  if (!ta && !tb) assign(c, a, b, alpha, beta);
  else if (ta && !tb) assign(c, a.transpose(), b, alpha, beta);
  else if (!ta && tb) assign(c, a, b.transpose(), alpha, beta);
  else assign(c, a.transpose(), b.transpose(), alpha, beta);
}

}  // namespace ghm::cpu
