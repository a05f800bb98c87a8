// Branch-free float32 exp, log1p, sigmoid and the logistic loss parts for CPU loops that GCC
// vectorises (`#pragma omp simd`): no libm calls, no data-dependent branches, only arithmetic,
// integer/bit operations (std::bit_cast) and selects, which become masked AVX-512/AVX2 code.
//
// exp_approx(x) = e^x
//   Reduction: n = round(x * log2(e)), r = x - n*ln2, so e^x = 2^n * e^r with |r| <= ln2/2 (plus
//   a hair where the product x*log2(e) rounds across a half-integer). The rounding uses the
//   shifter trick: z = x*log2(e) + 1.5*2^23 leaves round(x*log2(e)) in the low mantissa bits of z,
//   so n comes out of an integer subtraction with no float->int conversion (which is UB for NaN).
//   r is formed Cody-Waite style with two constants, ln2 = kLn2Hi + kLn2Lo, where kLn2Hi has 15
//   significant bits: n*kLn2Hi is exact for |n| <= 256 and x - n*kLn2Hi is exact (Sterbenz), so
//   the only reduction error is the rounding of the kLn2Lo term, ~2^-24 * |r|.
//   Polynomial: the Taylor series of e^r to degree 7 in Horner form. The truncation error on
//   |r| <= 0.347 is r^8/8! <= 5.2e-9, under 0.1 ulp; the evaluation rounds ~0.5-0.7 ulp.
//   Scale: 2^n is built from exponent bits. n is clamped to [-126, 128]; n = 128 has no float, so
//   the scale is applied as two factors 2^(n>>1) * 2^(n - (n>>1)), each a normal float; p*2^a is
//   exact and the second product rounds once (to +inf past the overflow threshold).
//   Range: x >= 0x1.62e430p6 (~88.7228394, the first float with e^x > FLT_MAX) gives +inf;
//   x < kExpMinArg (-0x1.5d589ep6, ~-87.3365402, the smallest float with e^x >= FLT_MIN) gives
//   +0: results that would be subnormal are flushed to zero, so no denormal ever leaves here
//   (they are slow in later arithmetic and irrelevant to a loss). -inf -> +0, +inf -> +inf,
//   NaN -> NaN (selects and clamps are written so that a NaN falls through).
//   Measured (tests/core/test_fast_math.cpp, every 97th bit pattern): max error 1 ulp.
//
// log1p_approx(t) = log(1 + t), t >= 0
//   u = fl(1 + t). Split u = 2^k * m with m in [sqrt(1/2), sqrt(2)) by integer arithmetic on the
//   bits (subtract the bits of sqrt(1/2), the exponent field is k, add them back to the mantissa).
//   With f = m - 1 (exact, Sterbenz) and s = f / (2 + f), |s| <= 0.1716:
//     log(m) = 2 atanh(s) = 2s + s*R,  R = 2s^2/3 + 2s^4/5 + 2s^6/7 + 2s^8/9 (+ 2s^10/11 + ...)
//   rewritten as log(m) = f - (f^2/2 - s*(f^2/2 + R)) (fdlibm), so the exact f is the leading term
//   and every rounded quantity is multiplied by something small. The dropped tail is < 2e-9
//   relative. log(u) = k*kLn2Hi + (k*kLn2Lo + log(m)) with k*kLn2Hi exact.
//   1 + t lost the low bits of t; the correction log1p(t) = log(u) * t / (u - 1) (Goldberg)
//   restores relative accuracy: log(u)/(u - 1) varies slowly, so evaluating it at u instead of
//   1 + t costs < 0.25 ulp. When u == 1 (t < 2^-24, also t = 0 and -0), log1p(t) = t to within
//   t/2 relative, i.e. exactly in float. t = +inf -> +inf, NaN -> NaN. Negative t is outside the
//   contract (the loss uses t = exp(-|x|) in (0, 1]).
//   Measured: max error 1.5 ulp over [0, FLT_MAX].
//
// sigmoid_approx(x) = 1 / (1 + e^-x), computed from t = e^-|x| in (0, 1] so nothing overflows:
//   p = (x >= 0 ? 1 : t) / (1 + t), one division, selects instead of a branch. x < -87.3365 gives
//   +0 (the true value is subnormal); x = -0 gives 0.5; +-inf give 1 and 0; NaN gives NaN.
//   Error: t's error (<= 1 ulp) scaled by 1/(1+t), plus the roundings of 1 + t and of the division.
//
// softplus_neg_abs(x) = log(1 + e^-|x|), the non-linear part of the stable BCE-with-logits.
//
// logistic_parts(x, y) = {sigmoid(x), BCE-with-logits(x, y)}, sharing one exp:
//   bce = max(x, 0) - x*y + log1p(e^-|x|). For y in {0, 1} the first two terms are exact (0, x or
//   -x), so bce is as accurate as softplus_neg_abs plus one addition. For soft labels max(x,0) - x*y
//   may cancel; it is formed with one rounding (fma where available).
//
// FMA: with hardware FMA (-march=native on anything recent) the multiply-adds are fused
// (std::fma, inlined as vfmadd); otherwise they are a multiply and an add. The two builds may
// differ in the last bit; both meet the bounds. Within one build, scalar and vector evaluation of
// these functions give identical bits (the project compiles with -ffp-contract=off semantics of
// -std=c++20, and every operation here is an IEEE operation).
//
// These are CPU functions (std::bit_cast); a CUDA kernel would use its own expf/log1pf.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace ghm::cpu {

namespace fast_math_detail {

// a*b + c, fused when the target has FMA (then it is one instruction and vectorises).
inline float madd(float a, float b, float c) {
#if defined(__FMA__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

constexpr float kLog2e = 0x1.715476p+0f;    // log2(e), rounded to float
constexpr float kShifter = 0x1.8p23f;       // 1.5 * 2^23: adding it rounds |v| < 2^22 to an integer
constexpr float kLn2Hi = 0x1.62e4p-1f;      // ln2, 15 significant bits: k * kLn2Hi exact, |k| <= 256
constexpr float kLn2Lo = 0x1.7f7d1cp-20f;   // ln2 - kLn2Hi
constexpr float kExpMinArg = -0x1.5d589ep+6f;  // ~-87.3365402: smallest float with e^x >= FLT_MIN
constexpr float kExpMaxArg = 0x1.63p+6f;       // 88.75: past overflow (88.7228394), keeps n <= 128

// 1/k! for the degree-7 Taylor polynomial of e^r.
constexpr float kExpC2 = 0x1.0p-1f;
constexpr float kExpC3 = 0x1.555556p-3f;
constexpr float kExpC4 = 0x1.555556p-5f;
constexpr float kExpC5 = 0x1.111112p-7f;
constexpr float kExpC6 = 0x1.6c16c2p-10f;
constexpr float kExpC7 = 0x1.a01a02p-13f;

// 2/(2j+1) for log(m) = 2s + s*R, R = sum_j 2 s^(2j) / (2j+1), j = 1..4.
constexpr float kLogC3 = 0x1.555556p-1f;
constexpr float kLogC5 = 0x1.99999ap-2f;
constexpr float kLogC7 = 0x1.24924ap-2f;
constexpr float kLogC9 = 0x1.c71c72p-3f;
constexpr std::int32_t kSqrtHalfBits = 0x3f3504f3;  // bits of sqrt(1/2)
constexpr std::int32_t kMantissaMask = 0x007fffff;

// 2^e for e in [-126, 127], from the exponent field.
inline float exp2_int(std::int32_t e) { return std::bit_cast<float>((e + 127) << 23); }

}  // namespace fast_math_detail

// e^x; see the top of the file for the range (+0 below ~-87.3365, +inf above ~88.7228) and error.
inline float exp_approx(float x) {
  using namespace fast_math_detail;
  const bool underflow = x < kExpMinArg;
  float xc = underflow ? kExpMinArg : x;  // NaN compares false and passes through both clamps
  xc = xc > kExpMaxArg ? kExpMaxArg : xc;

  const float z = madd(xc, kLog2e, kShifter);
  const float nf = z - kShifter;
  const std::int32_t n = std::bit_cast<std::int32_t>(z) - std::bit_cast<std::int32_t>(kShifter);
  float r = madd(-nf, kLn2Hi, xc);
  r = madd(-nf, kLn2Lo, r);

  float p = kExpC7;
  p = madd(p, r, kExpC6);
  p = madd(p, r, kExpC5);
  p = madd(p, r, kExpC4);
  p = madd(p, r, kExpC3);
  p = madd(p, r, kExpC2);
  p = madd(p, r, 1.0f);
  p = madd(p, r, 1.0f);

  // The flush to zero rides on the second scale factor, so the select only picks between values
  // made by integer operations and no float arithmetic ends up conditional (see log1p_approx).
  const std::int32_t n_half = n >> 1;
  const float scale_hi = underflow ? 0.0f : exp2_int(n - n_half);
  return p * exp2_int(n_half) * scale_hi;
}

// log(1 + t) for t >= 0 (including +inf); accurate in relative terms for tiny t.
inline float log1p_approx(float t) {
  using namespace fast_math_detail;
  // u + c == 1 + t exactly (Fast2Sum of the larger and the smaller addend).
  const float big = t > 1.0f ? t : 1.0f;
  const float small = t > 1.0f ? 1.0f : t;
  const float u = big + small;
  const float c = small - (u - big);

  const std::int32_t shifted = std::bit_cast<std::int32_t>(u) - kSqrtHalfBits;
  const std::int32_t k = shifted >> 23;
  const float m = std::bit_cast<float>((shifted & kMantissaMask) + kSqrtHalfBits);  // [sqrt(1/2), sqrt(2))

  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  float R = kLogC9;
  R = madd(R, z, kLogC7);
  R = madd(R, z, kLogC5);
  R = madd(R, z, kLogC3);
  R = R * z;
  const float hfsq = 0.5f * f * f;
  const float log_m = f - (hfsq - s * (hfsq + R));

  // log(1 + t) = k*ln2 + log(m) + c/u + O((c/u)^2), summed from the smallest term up.
  const auto kf = static_cast<float>(k);
  const float low = madd(kf, kLn2Lo, c / u);
  const float result = madd(kf, kLn2Hi, log_m + low);
  // log1p(t) <= t, so min(result, t) only moves a result toward the truth; it also turns the NaN
  // the formula gives at t = +inf (c = 1 - (inf - inf)) into +inf, and keeps t = NaN a NaN.
  // Written as a min rather than `t == inf ? t : result`, which GCC turns into a branch around
  // the divisions and then refuses to vectorise (they may trap under -ftrapping-math).
  return result < t ? result : t;
}

// 1 / (1 + e^-x) in [0, 1] for every x, never NaN unless x is.
inline float sigmoid_approx(float x) {
  const float t = exp_approx(-std::fabs(x));
  return (x >= 0.0f ? 1.0f : t) / (1.0f + t);
}

// log(1 + e^-|x|).
inline float softplus_neg_abs(float x) { return log1p_approx(exp_approx(-std::fabs(x))); }

struct LogisticParts {
  float p;    // sigmoid(x)
  float bce;  // -(y log p + (1 - y) log(1 - p)), computed from the logit
};

// sigmoid(x) and the stable BCE-with-logits max(x, 0) - x*y + log(1 + e^-|x|), one exp for both.
inline LogisticParts logistic_parts(float x, float y) {
  const float t = exp_approx(-std::fabs(x));
  const float p = (x >= 0.0f ? 1.0f : t) / (1.0f + t);
  const float relu = x > 0.0f ? x : 0.0f;
  const float bce = fast_math_detail::madd(-x, y, relu) + log1p_approx(t);
  return {p, bce};
}

}  // namespace ghm::cpu
