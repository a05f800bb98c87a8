// The small pieces of GHM arithmetic that the CPU and CUDA kernels share, written to reproduce the
// reference implementation's float32 rounding (see docs/losses.md):
//
//   edges:   e_i = float32(i) / float32(M), i = 0..M-1, and a last edge e_M given by the loss
//            (1 + 1e-6 rounded to float32 for GHM-C, 1e3 for GHM-R); bin i = [e_i, e_{i+1})
//   EMA:     S_i = f32( f32(f32(m) * S_i) + f32((1 - m) * R_i) )    (for non-empty bins only)
//   weight:  m > 0: f32(1 / S_i) * f32(tot);  m == 0: f32(tot / R_i);  then / f32(n)
//
// Everything here is __host__ __device__ (GHM_HD): the CPU driver (losses/cpu/ghm_cpu.h) and the
// CUDA kernels (losses/cuda/ghm_cuda.cu) call the same functions, so equal inputs give equal bits.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/ops/elementwise_math.h"

namespace ghm::losses {

// Largest supported bin count. Bin indices are stored in one byte: 0..125 a bin, kNoBin (127) an
// invalid element, and the top bit marks a g that lies near a bin edge (see losses/cpu/ghm_cpu.h).
constexpr int kMaxGhmBins = 126;
constexpr std::uint8_t kNoBin = 127;

constexpr float kGhmcLastEdge = 1.0f + 1e-6f;  // float32(1) + float32(1e-6) == 1.00000095
constexpr float kGhmrLastEdge = 1e3f;

// A g within kGhmNearUlps of an edge e of its bin, relative to max(e, 1 - e), is binned again from
// a double-precision g, since a few ulps of rounding in the element math can decide its bin; the
// flag rides in the bin byte until then. max(e, 1 - e) rather than e: g = |p - y| carries the
// error of p, which for y = 1 is an ulp of a p near 1 - e, far more than an ulp of a small e.
// The window is wider than any backend's error (the CPU's sigmoid is within 2.2 ulps of p, the
// device's, from expf, within 8 at worst; tests/losses/test_ghm_math.cpp checks 8), so every
// element whose g is not flagged lies on the same side of the edge in every backend, and flagged
// ones get the same double-precision bin: the CPU and CUDA bins are equal.
constexpr float kGhmNearUlps = 8.0f * 1.1920929e-7f;  // 8 x FLT_EPSILON
constexpr std::uint8_t kGhmNearEdge = 0x80;

// Edge i of M bins: float32(i) / float32(M) (correctly rounded on the host and the device), the
// loss's last edge for i == M.
GHM_HD float ghm_edge(int i, int bins, float last_edge) {
  return i == bins ? last_edge : static_cast<float>(i) / static_cast<float>(bins);
}

// The bin of g under `edges` [bins + 1], or kNoBin for NaN and for g outside [e_0, e_M).
// A first guess from g * M is corrected against the float32 edges, so the result is exactly the
// half-open interval test the reference performs.
GHM_HD std::uint8_t ghm_bin(float g, const float* edges, int bins) {
  if (!(g >= edges[0]) || !(g < edges[bins])) return kNoBin;
  int b = static_cast<int>(g * static_cast<float>(bins));
  if (b > bins - 1) b = bins - 1;
  while (b > 0 && g < edges[b]) --b;
  while (b < bins - 1 && g >= edges[b + 1]) ++b;
  return static_cast<std::uint8_t>(b);
}

// Pass 1's binning of one element, the per-element form of cpu::bin_block (the same expressions):
// the bin byte of g, kNoBin when the element is invalid or g is NaN or outside [e_0, e_M), and the
// kGhmNearEdge flag when g lies within the near-edge window of an edge of its bin. A flagged
// element is binned again with ghm_bin from a double-precision g. edges: [bins + 1].
GHM_HD std::uint8_t ghm_flagged_bin(float g, bool valid, const float* edges, int bins) {
  const bool inside = (g >= 0.0f) & (g < edges[bins]);
  int b = static_cast<int>(inside ? g * static_cast<float>(bins) : 0.0f);
  b = b > bins - 1 ? bins - 1 : b;
  b = b - static_cast<int>(g < edges[b]) + static_cast<int>(g >= edges[b + 1]);
  b = b < 0 ? 0 : (b > bins - 1 ? bins - 1 : b);  // only moves a g that is outside (kNoBin anyway)
  const float lo = edges[b], hi = edges[b + 1];
  const float lo_scale = lo > 1.0f - lo ? lo : 1.0f - lo, hi_scale = hi > 1.0f - hi ? hi : 1.0f - hi;
  const bool near = ((b > 0) & (g - lo <= kGhmNearUlps * lo_scale)) | (hi - g <= kGhmNearUlps * hi_scale);
  const int flagged = b | (near ? kGhmNearEdge : 0);
  return static_cast<std::uint8_t>((inside & valid) ? flagged : kNoBin);
}

// a * b rounded to float32 on its own, never fused with a following addition into one FMA (the
// reference rounds the EMA's product and sum separately; nvcc and GCC would otherwise contract).
GHM_HD float ghm_mul_rounded(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  const volatile float product = a * b;
  return product;
#endif
}

// One EMA step of a non-empty bin: f32(f32(m) * S) + f32((1 - m) * R), m and (1 - m) * R taken in
// double as the reference's Python floats.
GHM_HD float ghm_ema_update(float acc, double momentum, double r) {
  return ghm_mul_rounded(static_cast<float>(momentum), acc) + static_cast<float>((1.0 - momentum) * r);
}

// Per-bin weights from counts, the EMA update included (pass 2 of a call, on the host and the
// device). num_in_bin: [bins] R_i; acc_sum: [bins] S_i, updated for the non-empty bins when
// momentum > 0 (not read otherwise, may then be null); bin_weight: [bins] written with w_i (0 for
// empty bins). tot >= 1. Returns n, the number of non-empty bins.
GHM_HD int ghm_bin_weights(const std::int64_t* num_in_bin, int bins, double tot, double momentum, float* acc_sum,
                           float* bin_weight) {
  int n = 0;
  for (int i = 0; i < bins; ++i) {
    bin_weight[i] = 0.0f;
    if (num_in_bin[i] == 0) continue;
    ++n;
    const double r = static_cast<double>(num_in_bin[i]);
    if (momentum > 0.0) {
      acc_sum[i] = ghm_ema_update(acc_sum[i], momentum, r);
      bin_weight[i] = (1.0f / acc_sum[i]) * static_cast<float>(tot);
    } else {
      bin_weight[i] = static_cast<float>(tot / r);
    }
  }
  if (n > 0)
    for (int i = 0; i < bins; ++i) bin_weight[i] /= static_cast<float>(n);
  return n;
}

}  // namespace ghm::losses
