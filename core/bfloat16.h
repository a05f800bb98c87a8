// bfloat16: the upper 16 bits of an IEEE float32 (8 exponent bits, 7 mantissa bits), held as its
// bits. Conversion to float is exact; from float rounds to nearest, ties to even, and keeps NaN a
// NaN (a quiet one), as PyTorch's and CUDA's __float2bfloat16 do.
#pragma once

#include <bit>
#include <cstdint>

namespace ghm {

inline float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

inline std::uint16_t float_to_bf16(float f) {
  const auto u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // NaN stays NaN
  const std::uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);  // to nearest, ties to the even mantissa
  return static_cast<std::uint16_t>((u + rounding) >> 16);
}

}  // namespace ghm
