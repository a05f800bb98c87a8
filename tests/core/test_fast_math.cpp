// core/cpu/fast_math.h against double-precision libm.
//
// Sweeps visit every 97th (or 389th) float bit pattern of a domain, which samples every binade
// evenly (~86k or ~22k points per binade), evaluate the approximation in a `#pragma omp simd` loop
// as the kernels do, and measure the error in ulps of the exact result rounded to float. The same
// points are evaluated again through non-inlined scalar calls: vector and scalar code must give
// identical bits. Then the special values: 0, -0, subnormal, huge, +-inf, NaN and the range limits.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "core/cpu/fast_math.h"

using namespace ghm::cpu;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kFltMax = std::numeric_limits<float>::max();
constexpr float kFltMin = std::numeric_limits<float>::min();
constexpr float kDenormMin = std::numeric_limits<float>::denorm_min();

constexpr float kExpLastFinite = 0x1.62e42ep+6f;   // 88.7228317: e^x < FLT_MAX
constexpr float kExpFirstInf = 0x1.62e430p+6f;     // 88.7228394: e^x > FLT_MAX
constexpr float kExpFirstNormal = -0x1.5d589ep+6f; // -87.3365402: e^x >= FLT_MIN
constexpr float kExpLastZero = -0x1.5d58a0p+6f;    // -87.3365479: e^x < FLT_MIN, flushed to +0

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

// |got - want| in units of the float ulp at `want` (the spacing of floats in want's binade,
// 2^-149 below FLT_MIN).
double ulp_error(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0.0 : std::numeric_limits<double>::infinity();
  if (std::isinf(want)) return static_cast<double>(got) == want ? 0.0 : std::numeric_limits<double>::infinity();
  if (want == 0.0) return got == 0.0f ? 0.0 : std::numeric_limits<double>::infinity();
  const int exponent = std::max(std::ilogb(want), -126);
  return std::fabs(static_cast<double>(got) - want) / std::ldexp(1.0, exponent - 23);
}

struct SweepResult {
  double max_ulp = 0;
  float worst_x = 0;
  std::int64_t points = 0;
  std::int64_t vector_scalar_mismatches = 0;
};

// Every `stride`-th bit pattern between `first` and `last` (inclusive; both of one sign, so the
// patterns run through |x| in order). `vec` is evaluated in a simd loop, `scalar` through a call.
template <class Vec, class Exact>
void sweep(SweepResult& res, float first, float last, std::uint32_t stride, Vec vec, float (*scalar)(float),
           Exact exact) {
  constexpr std::size_t kChunk = 4096;
  std::array<float, kChunk> x{}, y{};
  const std::uint32_t lo = std::min(bits(first), bits(last));
  const std::uint32_t hi = std::max(bits(first), bits(last));
  for (std::uint64_t start = lo; start <= hi; start += std::uint64_t{stride} * kChunk) {
    std::size_t n = 0;
    for (std::uint64_t b = start; b <= hi && n < kChunk; b += stride) {
      x[n++] = std::bit_cast<float>(static_cast<std::uint32_t>(b));
    }
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) y[i] = vec(x[i]);
    for (std::size_t i = 0; i < n; ++i) {
      const double e = ulp_error(y[i], exact(static_cast<double>(x[i])));
      if (e > res.max_ulp) {
        res.max_ulp = e;
        res.worst_x = x[i];
      }
      if (bits(y[i]) != bits(scalar(x[i]))) ++res.vector_scalar_mismatches;
    }
    res.points += static_cast<std::int64_t>(n);
  }
}

void report(const std::string& name, const SweepResult& r, double bound) {
  MESSAGE(name << ": max error " << r.max_ulp << " ulp (bound " << bound << ") at x = " << r.worst_x << " over "
                << r.points << " points");
  CHECK(r.max_ulp <= bound);
  CHECK(r.vector_scalar_mismatches == 0);
}

// Scalar entry points the compiler cannot inline into (and so cannot vectorise).
[[gnu::noinline]] float exp_scalar(float x) { return exp_approx(x); }
[[gnu::noinline]] float log1p_scalar(float t) { return log1p_approx(t); }
[[gnu::noinline]] float sigmoid_scalar(float x) { return sigmoid_approx(x); }
[[gnu::noinline]] float softplus_scalar(float x) { return softplus_neg_abs(x); }
[[gnu::noinline]] float bce_y0_scalar(float x) { return logistic_parts(x, 0.0f).bce; }
[[gnu::noinline]] float bce_y1_scalar(float x) { return logistic_parts(x, 1.0f).bce; }

double sigmoid_exact(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}
double softplus_exact(double x) { return std::log1p(std::exp(-std::fabs(x))); }

// Stride 97 (a prime, so the low mantissa bits vary) for the primitives; 389 for the composites.
constexpr std::uint32_t kDense = 97;
constexpr std::uint32_t kComposite = 389;

}  // namespace

TEST_CASE("fast_math: exp_approx sweep within 1.5 ulp of e^x") {
  SweepResult r;
  const auto vec = [](float x) { return exp_approx(x); };
  const auto exact = [](double x) { return std::exp(x); };
  sweep(r, 0.0f, kExpLastFinite, kDense, vec, exp_scalar, exact);
  sweep(r, -0.0f, kExpFirstNormal, kDense, vec, exp_scalar, exact);
  report("exp_approx", r, 1.5);  // measured 0.91 ulp with FMA, 1.18 without
}

TEST_CASE("fast_math: exp_approx special values and range limits") {
  // Exact by construction: x = 0 gives n = 0, r = 0, p = 1.
  CHECK(exp_approx(0.0f) == 1.0f);
  CHECK(exp_approx(-0.0f) == 1.0f);
  CHECK(exp_approx(kDenormMin) == 1.0f);
  CHECK(exp_approx(1e-30f) == 1.0f);
  CHECK(exp_approx(-1e-30f) == 1.0f);
  CHECK(ulp_error(exp_approx(1.0f), std::exp(1.0)) <= 1.5);
  CHECK(ulp_error(exp_approx(-1.0f), std::exp(-1.0)) <= 1.5);
  // Overflow: the last float below ln(FLT_MAX) is finite, the next one is +inf.
  CHECK(std::isfinite(exp_approx(kExpLastFinite)));
  CHECK(ulp_error(exp_approx(kExpLastFinite), std::exp(static_cast<double>(kExpLastFinite))) <= 1.5);
  CHECK(exp_approx(kExpFirstInf) == kInf);
  CHECK(exp_approx(88.75f) == kInf);
  CHECK(exp_approx(1000.0f) == kInf);
  CHECK(exp_approx(kFltMax) == kInf);
  CHECK(exp_approx(kInf) == kInf);
  // Underflow: results below FLT_MIN are flushed to +0, never subnormal.
  CHECK(exp_approx(kExpFirstNormal) >= kFltMin);
  CHECK(ulp_error(exp_approx(kExpFirstNormal), std::exp(static_cast<double>(kExpFirstNormal))) <= 1.5);
  CHECK(exp_approx(kExpLastZero) == 0.0f);
  CHECK(exp_approx(-100.0f) == 0.0f);
  CHECK(exp_approx(-kFltMax) == 0.0f);
  CHECK(exp_approx(-kInf) == 0.0f);
  CHECK_FALSE(std::signbit(exp_approx(-kInf)));
  CHECK(std::isnan(exp_approx(kNaN)));
  CHECK(std::isnan(exp_approx(-kNaN)));
}

TEST_CASE("fast_math: log1p_approx sweep within 1.5 ulp of log1p(t) on [0, FLT_MAX]") {
  SweepResult r;
  sweep(r, 0.0f, kFltMax, kDense, [](float t) { return log1p_approx(t); }, log1p_scalar,
        [](double t) { return std::log1p(t); });
  report("log1p_approx", r, 1.5);  // measured 1.17 ulp
}

TEST_CASE("fast_math: log1p_approx special values") {
  CHECK(log1p_approx(0.0f) == 0.0f);
  CHECK_FALSE(std::signbit(log1p_approx(0.0f)));
  CHECK(log1p_approx(-0.0f) == 0.0f);
  CHECK(std::signbit(log1p_approx(-0.0f)));  // log1p(-0) = -0, as in C
  // t < 2^-24: 1 + t rounds to 1 and log1p(t) = t in float.
  CHECK(log1p_approx(kDenormMin) == kDenormMin);
  CHECK(log1p_approx(1e-30f) == 1e-30f);
  CHECK(log1p_approx(0x1.0p-24f) == 0x1.0p-24f);
  CHECK(ulp_error(log1p_approx(0x1.000002p-24f), std::log1p(static_cast<double>(0x1.000002p-24f))) <= 1.5);
  CHECK(ulp_error(log1p_approx(1.0f), std::log(2.0)) <= 1.5);
  CHECK(ulp_error(log1p_approx(kFltMax), std::log1p(static_cast<double>(kFltMax))) <= 1.5);
  CHECK(log1p_approx(kInf) == kInf);
  CHECK(std::isnan(log1p_approx(kNaN)));
}

TEST_CASE("fast_math: sigmoid_approx sweep within 2.5 ulp") {
  SweepResult r;
  const auto vec = [](float x) { return sigmoid_approx(x); };
  sweep(r, 0.0f, kFltMax, kComposite, vec, sigmoid_scalar, sigmoid_exact);
  sweep(r, -0.0f, kExpFirstNormal, kComposite, vec, sigmoid_scalar, sigmoid_exact);
  report("sigmoid_approx", r, 2.5);  // measured 2.19 ulp
}

TEST_CASE("fast_math: sigmoid_approx special values") {
  CHECK(sigmoid_approx(0.0f) == 0.5f);
  CHECK(sigmoid_approx(-0.0f) == 0.5f);
  CHECK(ulp_error(sigmoid_approx(-20.0f), sigmoid_exact(-20.0)) <= 2.5);
  CHECK(sigmoid_approx(20.0f) == 1.0f);  // 1 - 2e-9 rounds to 1
  CHECK(sigmoid_approx(kFltMax) == 1.0f);
  CHECK(sigmoid_approx(kInf) == 1.0f);
  CHECK(sigmoid_approx(-100.0f) == 0.0f);  // the true 3.7e-44 is subnormal: flushed
  CHECK(sigmoid_approx(-kFltMax) == 0.0f);
  CHECK(sigmoid_approx(-kInf) == 0.0f);
  CHECK(std::isnan(sigmoid_approx(kNaN)));
}

TEST_CASE("fast_math: softplus_neg_abs and logistic_parts against double") {
  // Past |x| = 87.3365 e^-|x| is flushed to 0 and so is the softplus (checked below).
  const float x_max = -kExpFirstNormal;
  SweepResult sp, y0, y1;
  const auto bce_exact = [](double x, double y) { return std::max(x, 0.0) - x * y + softplus_exact(x); };
  for (const float sign : {1.0f, -1.0f}) {
    sweep(sp, sign * 0.0f, sign * x_max, kComposite, [](float x) { return softplus_neg_abs(x); }, softplus_scalar,
          softplus_exact);
    // Hard labels: max(x, 0) - x*y is exact, so bce is the softplus plus one rounding.
    sweep(y0, sign * 0.0f, sign * x_max, kComposite, [](float x) { return logistic_parts(x, 0.0f).bce; },
          bce_y0_scalar, [&](double x) { return bce_exact(x, 0.0); });
    sweep(y1, sign * 0.0f, sign * x_max, kComposite, [](float x) { return logistic_parts(x, 1.0f).bce; },
          bce_y1_scalar, [&](double x) { return bce_exact(x, 1.0); });
  }
  report("softplus_neg_abs", sp, 2.5);  // measured 1.82 ulp with FMA, 1.86 without
  report("logistic_parts bce, y = 0", y0, 2.5);
  report("logistic_parts bce, y = 1", y1, 2.5);

  // Soft labels may cancel in max(x, 0) - x*y: bound the error by the size of the terms.
  double worst = 0;
  int p_mismatches = 0;
  for (float x = -30.0f; x <= 30.0f; x += 0.01f) {
    for (const float y : {0.1f, 0.5f, 0.9f}) {
      const LogisticParts parts = logistic_parts(x, y);
      if (bits(parts.p) != bits(sigmoid_approx(x))) ++p_mismatches;
      const double scale = std::max(static_cast<double>(x), 0.0) + std::fabs(double{x} * y) + softplus_exact(x);
      worst = std::max(worst, std::fabs(parts.bce - bce_exact(x, y)) / scale);
    }
  }
  MESSAGE("logistic_parts bce, soft labels: max error " << worst << " relative to the size of the terms");
  CHECK(worst <= 3e-7);  // a few float roundings of quantities no larger than `scale`
  CHECK(p_mismatches == 0);

  CHECK(ulp_error(softplus_neg_abs(0.0f), std::log(2.0)) <= 2.5);
  CHECK(softplus_neg_abs(88.0f) == 0.0f);  // the true 6e-39 is subnormal: flushed
  CHECK(softplus_neg_abs(kInf) == 0.0f);
  CHECK(softplus_neg_abs(-kInf) == 0.0f);
  CHECK(std::isnan(softplus_neg_abs(kNaN)));
  CHECK(logistic_parts(1e30f, 1.0f).bce == 0.0f);
  CHECK(logistic_parts(-1e30f, 0.0f).bce == 0.0f);
  CHECK(logistic_parts(-1e30f, 0.0f).p == 0.0f);
  CHECK(logistic_parts(1e30f, 0.0f).bce == 1e30f);
  CHECK(std::isnan(logistic_parts(kNaN, 1.0f).p));
  CHECK(std::isnan(logistic_parts(kNaN, 1.0f).bce));
}
