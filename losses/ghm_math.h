// The small pieces of GHM arithmetic that the CPU and CUDA kernels share, written to reproduce the
// reference implementation's float32 rounding (see docs/losses.md):
//
//   edges:   e_i = float32(i) / float32(M), i = 0..M-1, and a last edge e_M given by the loss
//            (1 + 1e-6 rounded to float32 for GHM-C, 1e3 for GHM-R); bin i = [e_i, e_{i+1})
//   EMA:     S_i = f32( f32(f32(m) * S_i) + f32((1 - m) * R_i) )    (for non-empty bins only)
//   weight:  m > 0: f32(1 / S_i) * f32(tot);  m == 0: f32(tot / R_i);  then / f32(n)
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

}  // namespace ghm::losses
