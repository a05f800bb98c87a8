// The cuBLAS GEMM twins (core/cuda/matmul_cuda.h) against the CPU's (core/cpu/gemm.h), below the
// matmul op (whose values and gradients the op table checks, tests/ops/op_table.h), in full float32:
// the four transpose combinations with row strides longer than the rows, alpha and beta, beta = 0
// not reading C (NaN there must not propagate), K = 0, batches with padded strides, padding never
// written; row strides shorter than a row refused; and the TF32 switch. Run only where a GPU is
// present.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/cpu/gemm.h"
#include "core/cuda/math_mode.h"
#include "core/cuda/matmul_cuda.h"
#include "core/ops/matmul.h"
#include "core/random.h"
#include "core/tensor.h"
#include "compare.h"

using namespace ghm;
using ghm::testing::normalised_error;

namespace {

const Device kGpu = Device::cuda(0);

// float32 on both sides, the same products summed in different orders: at most a few hundred
// N(0, 1) products per output, each side within a few 1e-7 of the exact sum relative to its size.
constexpr double kFloat32Tolerance = 1e-5;
// TF32 rounds both inputs of every product to a 10-bit mantissa (relative 2^-11 each); over
// random-sign sums the normalised error stays well below 1e-2.
constexpr double kTf32Tolerance = 1e-2;

std::vector<float> random_values(std::int64_t n, Generator& gen) {
  return Tensor::normal(Shape{n}, 0, 1, gen).to_vector<float>();
}

// cuda::gemm_batched against cpu::gemm per batch entry, on buffers laid out with the given row
// strides and batch strides (padding between rows and matrices holds random values that must stay
// untouched in C). C starts random, or NaN when nan_c (with beta = 0 it must not be read).
void check_gemm(cpu::Trans ta, cpu::Trans tb, std::int64_t batch, std::int64_t M, std::int64_t N, std::int64_t K,
                float alpha, float beta, std::int64_t pad_row, std::int64_t pad_matrix, bool nan_c) {
  const cuda::Tf32Scope full_float(false);
  const bool ta_yes = ta == cpu::Trans::Yes, tb_yes = tb == cpu::Trans::Yes;
  const std::int64_t a_rows = ta_yes ? K : M, a_cols = ta_yes ? M : K;
  const std::int64_t b_rows = tb_yes ? N : K, b_cols = tb_yes ? K : N;
  const std::int64_t lda = a_cols + pad_row, ldb = b_cols + pad_row, ldc = N + pad_row;
  const std::int64_t stride_a = a_rows * lda + pad_matrix, stride_b = b_rows * ldb + pad_matrix,
                     stride_c = M * ldc + pad_matrix;
  Generator gen(43);
  const std::vector<float> a = random_values(batch * stride_a, gen), b = random_values(batch * stride_b, gen);
  std::vector<float> c = random_values(batch * stride_c, gen);
  if (nan_c) {
    for (std::int64_t i = 0; i < batch; ++i)
      for (std::int64_t r = 0; r < M; ++r)
        for (std::int64_t j = 0; j < N; ++j)
          c[static_cast<std::size_t>(i * stride_c + r * ldc + j)] = std::numeric_limits<float>::quiet_NaN();
  }
  const Shape sa{batch * stride_a}, sb{batch * stride_b}, sc{batch * stride_c};
  const Tensor ad = Tensor::from_vector(a, sa).to(kGpu), bd = Tensor::from_vector(b, sb).to(kGpu);
  Tensor cd = Tensor::from_vector(c, sc).to(kGpu);
  cuda::gemm_batched(ta, tb, batch, M, N, K, alpha, ad.device_data<float>(), lda, stride_a, bd.device_data<float>(),
                     ldb, stride_b, beta, cd.device_data<float>(), ldc, stride_c);
  const std::vector<float> c_initial = c;
  for (std::int64_t i = 0; i < batch; ++i)
    cpu::gemm(ta, tb, M, N, K, alpha, a.data() + i * stride_a, lda, b.data() + i * stride_b, ldb, beta,
              c.data() + i * stride_c, ldc);
  const Tensor expected = Tensor::from_vector(c, sc);
  INFO("gemm ta=" << ta_yes << " tb=" << tb_yes << " batch " << batch << " M " << M << " N " << N << " K " << K
                  << " alpha " << alpha << " beta " << beta << " pad " << pad_row << "/" << pad_matrix);
  CHECK(normalised_error(cd, expected) <= kFloat32Tolerance);
  if (nan_c && beta == 0.0f) {
    const std::vector<float> got = cd.to(Device::cpu()).to_vector<float>();
    CHECK(std::none_of(got.begin(), got.end(), [](float v) { return std::isnan(v); }));
  }
  // Padding is never written: the bytes outside the matrices are C's initial values, bit for bit.
  if (pad_row > 0 || pad_matrix > 0) {
    const std::vector<float> got = cd.to(Device::cpu()).to_vector<float>();
    std::int64_t changed_padding = 0;
    for (std::int64_t i = 0; i < batch; ++i)
      for (std::int64_t p = 0; p < stride_c; ++p) {
        const bool inside = p < M * ldc && p % ldc < N;
        const std::size_t at = static_cast<std::size_t>(i * stride_c + p);
        if (!inside && std::memcmp(&got[at], &c_initial[at], sizeof(float)) != 0) ++changed_padding;
      }
    CHECK(changed_padding == 0);
  }
}

}  // namespace

TEST_CASE("cuda gemm: the four transpose combinations, strides, alpha, beta and K = 0 against the CPU twin") {
  for (const cpu::Trans ta : {cpu::Trans::No, cpu::Trans::Yes})
    for (const cpu::Trans tb : {cpu::Trans::No, cpu::Trans::Yes}) {
      check_gemm(ta, tb, 1, 33, 17, 65, 1.0f, 0.0f, 0, 0, false);
      check_gemm(ta, tb, 1, 33, 17, 65, 0.5f, -1.5f, 3, 0, false);
      check_gemm(ta, tb, 1, 1, 1, 1, 2.0f, 1.0f, 0, 0, false);
      check_gemm(ta, tb, 1, 257, 3, 300, 1.0f, 0.0f, 2, 0, true);
      check_gemm(ta, tb, 4, 33, 17, 65, 1.0f, 0.0f, 0, 0, false);
      check_gemm(ta, tb, 3, 31, 9, 20, -1.0f, 0.25f, 1, 7, false);
      check_gemm(ta, tb, 3, 31, 9, 20, 1.0f, 0.0f, 1, 7, true);
    }
  // K = 0: C = beta * C, without reading C when beta = 0; padded and contiguous layouts.
  check_gemm(cpu::Trans::No, cpu::Trans::No, 1, 5, 7, 0, 1.0f, 0.0f, 0, 0, true);
  check_gemm(cpu::Trans::No, cpu::Trans::Yes, 3, 5, 7, 0, 1.0f, 0.0f, 2, 0, true);
  check_gemm(cpu::Trans::Yes, cpu::Trans::No, 3, 5, 7, 0, 1.0f, 0.0f, 2, 5, true);
  check_gemm(cpu::Trans::No, cpu::Trans::No, 2, 5, 7, 0, 1.0f, 2.5f, 0, 0, false);
  check_gemm(cpu::Trans::Yes, cpu::Trans::Yes, 2, 5, 7, 0, 1.0f, -0.5f, 3, 4, false);
  check_gemm(cpu::Trans::No, cpu::Trans::No, 2, 5, 7, 0, 1.0f, 1.0f, 1, 1, false);
  // Nothing to do: M = 0, N = 0, batch = 0.
  check_gemm(cpu::Trans::No, cpu::Trans::No, 2, 0, 7, 3, 1.0f, 0.0f, 0, 0, false);
  check_gemm(cpu::Trans::No, cpu::Trans::No, 2, 5, 0, 3, 1.0f, 0.0f, 0, 0, false);
  check_gemm(cpu::Trans::No, cpu::Trans::No, 0, 5, 7, 3, 1.0f, 0.0f, 0, 0, false);
}

TEST_CASE("cuda matmul: row strides shorter than the rows are refused") {
  const Tensor a = Tensor::zeros(Shape{6}).to(kGpu);
  Tensor c = Tensor::zeros(Shape{6}).to(kGpu);
  CHECK_THROWS_WITH_AS(cuda::gemm(cpu::Trans::No, cpu::Trans::No, 2, 3, 2, 1.0f, a.device_data<float>(), 1,
                                  a.device_data<float>(), 3, 0.0f, c.device_data<float>(), 3),
                       doctest::Contains("gemm: row strides"), Error);
}

TEST_CASE("cuda matmul: the TF32 switch") {
  Generator gen(53);
  const Tensor a = Tensor::normal(Shape{256, 384}, 0, 1, gen), b = Tensor::normal(Shape{384, 320}, 0, 1, gen);
  const Tensor ag = a.to(kGpu), bg = b.to(kGpu);
  const Tensor expected = matmul(a, b);
  {
    const cuda::Tf32Scope tf32(true);
    CHECK(normalised_error(matmul(ag, bg), expected) <= kTf32Tolerance);
  }
  // 1 + 2^-12 is exact in float32 and rounds to 1 in TF32 (10-bit mantissa). With K = 64 every
  // partial sum j (1 + 2^-12) is exact in float32, so full float32 gives exactly 64 + 2^-6 in any
  // summation order; TF32 gives 64.
  const float x = 1.0f + std::ldexp(1.0f, -12);
  const Tensor ones_a = Tensor::full(Shape{512, 64}, x).to(kGpu), ones_b = Tensor::ones(Shape{64, 512}).to(kGpu);
  const float exact = 64.0f + std::ldexp(1.0f, -6);
  {
    const cuda::Tf32Scope full_float(false);
    const std::vector<float> v = matmul(ones_a, ones_b).to(Device::cpu()).to_vector<float>();
    CHECK(std::all_of(v.begin(), v.end(), [&](float y) { return y == exact; }));
  }
  {
    // Whether cuBLAS picks a TF32 kernel is its heuristic's choice: reported, not required.
    const cuda::Tf32Scope tf32(true);
    const std::vector<float> v = matmul(ones_a, ones_b).to(Device::cpu()).to_vector<float>();
    WARN_MESSAGE(v[0] == 64.0f, "TF32 allowed but the product kept full float32 precision: " << v[0]);
  }
}
