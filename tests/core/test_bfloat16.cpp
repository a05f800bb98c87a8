// bfloat16 conversions (core/bfloat16.h) against their definition: the upper half of a float,
// rounded to nearest with ties to even, NaN kept.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/bfloat16.h"

TEST_CASE("bfloat16: exact values, rounding to nearest even, infinities and NaN") {
  using ghm::bf16_to_float;
  using ghm::float_to_bf16;
  CHECK(float_to_bf16(1.0f) == 0x3F80);
  CHECK(float_to_bf16(-2.0f) == 0xC000);
  CHECK(float_to_bf16(0.0f) == 0x0000);
  CHECK(float_to_bf16(-0.0f) == 0x8000);
  CHECK(bf16_to_float(0x3F80) == 1.0f);
  CHECK(bf16_to_float(0x4049) == 3.140625f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  CHECK(float_to_bf16(1.0f + 0x1p-8f) == 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
  CHECK(float_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82);
  CHECK(float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3F81);  // past halfway: up
  CHECK(float_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80);
  CHECK(float_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);  // rounds past the largest bfloat16
  CHECK(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload lies only in the lower 16 bits stays a NaN, not an infinity.
  CHECK(std::isnan(bf16_to_float(float_to_bf16(std::bit_cast<float>(0x7F800001u)))));
  // Every bfloat16 that is a number converts to float and back to itself.
  int round_trips = 0;
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float f = bf16_to_float(bits);
    if (!std::isnan(f)) round_trips += float_to_bf16(f) == bits;
    else round_trips += std::isnan(bf16_to_float(float_to_bf16(f)));
  }
  CHECK(round_trips == 0x10000);
}
