// Branch-free float32 exp, log1p, sigmoid and the logistic-loss parts, for CPU loops that GCC
// vectorises (`#pragma omp simd`, or plain loops at -O3).
//
// Why branch-free: a loop is vectorised only if every lane can run the same instructions. A libm
// call (expf, log1pf) stops that (glibc's vector variants need -ffast-math), and so does an `if`
// on the data. Here every function is straight-line IEEE arithmetic, integer and bit operations on
// the float's bits (std::bit_cast) and selects `c ? a : b`, which become compare + masked blend
// (vcmpps / vblendmps on AVX-512). One trap: GCC keeps a float computation that feeds only one arm
// of a select inside a branch, and then will not vectorise it, since a division or multiply may
// raise an FP exception (-ftrapping-math is the default). So the selects below pick between values
// that are computed anyway, or that come from integer operations.
//
// exp_approx(x) = e^x
//   Reduction: n = round(x * log2(e)), r = x - n*ln2, so e^x = 2^n * e^r with |r| <= ln2/2 (plus
//   a hair where x*log2(e) rounds across a half-integer). The rounding uses the shifter: in
//   z = x*log2(e) + 1.5*2^23 the low mantissa bits of z hold round(x*log2(e)), so n comes from an
//   integer subtraction, with no float->int conversion (that would be UB for NaN).
//   r is formed Cody-Waite style with ln2 = kLn2Hi + kLn2Lo, where kLn2Hi has 15 significant bits:
//   n*kLn2Hi is exact for |n| <= 256 and lies within a factor 2 of x, so x - n*kLn2Hi is exact
//   (Sterbenz); the reduction error is the rounding of the kLn2Lo term, ~2^-24 * |r|.
//   Polynomial: Taylor series of e^r to degree 7, Horner form. Truncation error on |r| <= 0.347
//   is r^8/8! <= 5.2e-9, under 0.1 ulp; the evaluation rounds to ~0.5-0.8 ulp.
//   Scale: x is clamped to [kExpMinArg, kExpMaxArg], so n is in [-126, 128]. 2^128 is not a float,
//   so 2^n is applied as two factors 2^(n>>1) * 2^(n - (n>>1)), each a normal float built from
//   exponent bits; p*2^a is exact and the second product rounds once (to +inf past FLT_MAX).
//   Range: x >= 0x1.62e430p6 (~88.7228394, the first float with e^x > FLT_MAX) gives +inf.
//   x < kExpMinArg (-0x1.5d589ep6, ~-87.3365402, the smallest float with e^x >= FLT_MIN) gives
//   +0: results that would be subnormal are flushed to zero, so no subnormal ever leaves here
//   (they are slow in later arithmetic and irrelevant to a loss). -inf -> +0, +inf -> +inf,
//   NaN -> NaN (a NaN compares false and falls through the clamps).
//   Measured (tests/core/test_fast_math.cpp, every 97th bit pattern): max error 0.91 ulp with
//   FMA, 1.18 ulp without.
//
// log1p_approx(t) = log(1 + t), for t >= 0 (the losses use t = e^-|x| in (0, 1])
//   u = fl(1 + t) and c = (1 + t) - u exactly (Fast2Sum of the larger and the smaller addend), so
//   log1p(t) = log(u) + log(1 + c/u) = log(u) + c/u + O((c/u)^2), |c/u| <= 2^-24: the low bits of
//   t that 1 + t dropped come back through c, which keeps tiny t accurate (for t < 2^-24, u = 1,
//   log(u) = 0 and the result is c = t).
//   log(u): split u = 2^k * m with m in [sqrt(1/2), sqrt(2)) by integer arithmetic on the bits
//   (subtract the bits of sqrt(1/2); the exponent field is then k; add them back to the mantissa).
//   With f = m - 1 (exact, Sterbenz) and s = f / (2 + f), |s| <= 0.1716:
//     log(m) = 2 atanh(s) = 2s + s*R,  R = 2s^2/3 + 2s^4/5 + 2s^6/7 + 2s^8/9 (+ 2s^10/11 + ...)
//   evaluated as log(m) = f - (f^2/2 - s*(f^2/2 + R)) (fdlibm): the exact f leads and every rounded
//   term is multiplied by something small. The dropped tail is < 2e-9 relative.
//   log1p(t) = k*kLn2Hi + (log(m) + (k*kLn2Lo + c/u)), k*kLn2Hi exact, smallest terms first.
//   t = 0 -> +0, t = -0 -> -0, +inf -> +inf, NaN -> NaN.
//   Measured over [0, FLT_MAX]: max error 1.17 ulp (FMA and not).
//
// sigmoid_approx(x) = 1 / (1 + e^-x), from t = e^-|x| in (0, 1] so nothing overflows:
//   p = (x >= 0 ? 1 : t) / (1 + t), one division. p is in [0, 1]; x < -87.3365 gives +0 (the true
//   value is subnormal); x = +-0 gives 0.5; +inf -> 1, -inf -> 0, NaN -> NaN.
//   Error: t's (<= 1.2 ulp) scaled by 1/(1 + t), plus the roundings of 1 + t (up to 1 ulp of p
//   relative) and of the division. Measured: max 2.19 ulp.
//
// softplus_neg_abs(x) = log(1 + e^-|x|), the non-linear part of the stable BCE-with-logits.
//   |x| > 87.3365 gives +0 (the true value is subnormal). Measured: max 1.82 ulp (1.86 w/o FMA).
//
// logistic_parts(x, y) = {sigmoid(x), BCE-with-logits(x, y)} from one exp, for finite x:
//   bce = max(x, 0) - x*y + log(1 + e^-|x|). For y in {0, 1} the first two terms are exact (0, x or
//   -x), so bce is as accurate as softplus_neg_abs plus one addition (measured max 1.82 ulp). For
//   soft labels max(x, 0) - x*y may cancel; it is formed with one rounding (an FMA where there is
//   one). x = +-inf gives a NaN bce (inf * 0), as the formula does in any framework.
//
// FMA: with hardware FMA (-march=native on anything recent) the multiply-adds are explicit FMAs
// (std::fma, inlined as vfmadd); otherwise a multiply and an add. GCC may also contract other
// a*b + c (its C++ default is -ffp-contract=fast). Builds with and without FMA can differ in the
// last bit and both meet the bounds; the test checks that within a build the vectorised and the
// scalar code give identical bits.
//
// These are CPU functions (std::bit_cast); a CUDA kernel uses the device expf/log1pf.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

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
