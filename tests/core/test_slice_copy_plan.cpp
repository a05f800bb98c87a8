// The CUDA slice copy's plan (core/cuda/slice_copy_plan.h), checked without a GPU: small pitches
// take the 2-D copy, pitches at or past the device's maximum fall back to per-row copies (few
// rows) or the kernel (many rows), contiguous rows take one flat copy, and every byte offset is
// computed in 64 bits.
#include <doctest/doctest.h>

#include <cstdint>

#include "core/cuda/slice_copy_plan.h"

using namespace ghm::cuda;

namespace {
constexpr std::int64_t kMaxPitch = (std::int64_t{1} << 31) - 1;  // cudaDevAttrMaxPitch of current GPUs
}

TEST_CASE("slice copy plan: small pitches take one 2-D copy with the pitches and offsets in bytes") {
  // concat of [4, 3, 5] f32 into [4, 7, 5] at 2: rows of 15 floats into rows of 35.
  const SliceCopyPlan p = plan_slice_copy(4, 5, 3, 0, 7, 2, 3, 4, kMaxPitch);
  CHECK(p.method == SliceCopyMethod::Pitched2D);
  CHECK(p.rows == 4);
  CHECK(p.width == 60);
  CHECK(p.src_pitch == 60);
  CHECK(p.dst_pitch == 140);
  CHECK(p.src_offset == 0);
  CHECK(p.dst_offset == 40);
}

TEST_CASE("slice copy plan: one row or back-to-back rows are one flat copy, however large") {
  const std::int64_t huge = std::int64_t{3} << 30;  // 3 Gi elements
  CHECK(plan_slice_copy(1, 1, huge, 0, huge * 2, huge, huge, 4, kMaxPitch).method == SliceCopyMethod::Flat);
  CHECK(plan_slice_copy(8, huge, 1, 0, 1, 0, 1, 4, kMaxPitch).method == SliceCopyMethod::Flat);
}

TEST_CASE("slice copy plan: nothing to copy when there are no rows or the rows are empty") {
  CHECK(plan_slice_copy(0, 5, 3, 0, 7, 2, 3, 4, kMaxPitch).method == SliceCopyMethod::None);
  CHECK(plan_slice_copy(4, 5, 3, 0, 7, 2, 0, 4, kMaxPitch).method == SliceCopyMethod::None);
  CHECK(plan_slice_copy(4, 0, 3, 0, 7, 2, 3, 4, kMaxPitch).method == SliceCopyMethod::None);
}

TEST_CASE("slice copy plan: a pitch at or past the maximum falls back, row by row when the rows are few") {
  // 32 rows of f32 concatenated at the end of rows of 600e6 floats: a destination pitch of 2.4e9
  // bytes, past 2^31 - 1.
  const std::int64_t level = 150'000'000, total = 600'000'000;
  const SliceCopyPlan p = plan_slice_copy(32, 1, level, 0, total, 450'000'000, level, 4, kMaxPitch);
  CHECK(p.method == SliceCopyMethod::PerRow);
  CHECK(p.dst_pitch == 2'400'000'000);
  CHECK(p.dst_offset == 1'800'000'000);
  CHECK(p.width == 600'000'000);
  // The pitch equal to the maximum is not trusted to the 2-D copy either.
  CHECK(plan_slice_copy(2, 1, 10, 0, 20, 0, 10, 1, 20).method == SliceCopyMethod::PerRow);
  CHECK(plan_slice_copy(2, 1, 10, 0, 20, 0, 10, 1, 21).method == SliceCopyMethod::Pitched2D);
  // A too-large source pitch alone is enough.
  CHECK(plan_slice_copy(2, 1, 40, 5, 10, 0, 10, 1, 21).method == SliceCopyMethod::PerRow);
}

TEST_CASE("slice copy plan: a pitch past the maximum with many rows goes to the copy kernel") {
  CHECK(plan_slice_copy(kMaxRowCopies, 3, 10, 0, 20, 0, 10, 4, 100).method == SliceCopyMethod::PerRow);
  const SliceCopyPlan p = plan_slice_copy(kMaxRowCopies + 1, 3, 10, 0, 20, 4, 10, 4, 100);
  CHECK(p.method == SliceCopyMethod::Kernel);
  CHECK(p.elem_bytes == 4);
  CHECK(p.width == 120);
  CHECK(p.dst_offset == 48);
}

TEST_CASE("slice copy plan: offsets and pitches past 2^32 bytes are exact") {
  const std::int64_t inner = 1'000'000, len_src = 3'000, start = 2'500;  // 3e9 elements per row
  const SliceCopyPlan p = plan_slice_copy(3, inner, len_src, start, 100, 0, 100, 8, kMaxPitch);
  CHECK(p.src_pitch == std::int64_t{24'000'000'000});
  CHECK(p.src_offset == std::int64_t{20'000'000'000});
  CHECK(p.width == std::int64_t{800'000'000});
  CHECK(p.method == SliceCopyMethod::PerRow);
}
