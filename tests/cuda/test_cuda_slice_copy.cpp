// Every method of the CUDA slice copy (core/cuda/slice_copy_plan.h) against the CPU copy: small
// buffers with a small maximum pitch given to the plan force the per-row copies and the copy
// kernel that real pitches past 2^31 - 1 bytes would take. Run only where a CUDA GPU is present.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "core/cpu/shape_cpu.h"
#include "core/cuda/shape_cuda.h"
#include "core/cuda/slice_copy_plan.h"
#include "core/random.h"
#include "core/tensor.h"

using namespace ghm;

namespace {

const Device kGpu = Device::cuda(0);

struct SliceCase {
  std::int64_t outer, inner, len_src, src_start, len_dst, dst_start, len;
};

// The slice copied on the GPU by the plan made with max_pitch equals the CPU's copy, the
// destination's other elements untouched. Values are u8/i32/i64 bit patterns: compared exactly.
template <class T>
void check_against_cpu(const SliceCase& c, std::int64_t max_pitch, cuda::SliceCopyMethod expected) {
  const auto elem = static_cast<std::size_t>(sizeof(T));
  const cuda::SliceCopyPlan plan = cuda::plan_slice_copy(c.outer, c.inner, c.len_src, c.src_start, c.len_dst,
                                                         c.dst_start, c.len, elem, max_pitch);
  REQUIRE(plan.method == expected);
  std::vector<T> src(static_cast<std::size_t>(c.outer * c.len_src * c.inner));
  std::vector<T> dst(static_cast<std::size_t>(c.outer * c.len_dst * c.inner));
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<T>(i * 7 + 1);
  for (std::size_t i = 0; i < dst.size(); ++i) dst[i] = static_cast<T>(i * 3 + 2);
  const Tensor src_gpu = Tensor::from_vector(src, Shape{static_cast<std::int64_t>(src.size())}).to(kGpu);
  Tensor dst_gpu = Tensor::from_vector(dst, Shape{static_cast<std::int64_t>(dst.size())}).to(kGpu);
  cuda::copy_slice_planned(src_gpu.raw_device_data(), dst_gpu.raw_device_data(), plan);
  cpu::copy_slice(src.data(), dst.data(), c.outer, c.inner, c.len_src, c.src_start, c.len_dst, c.dst_start, c.len,
                  elem);
  CHECK(dst_gpu.to(Device::cpu()).to_vector<T>() == dst);
}

}  // namespace

TEST_CASE("cuda slice copy: the 2-D copy, per-row copies and the kernel agree with the CPU copy") {
  using M = cuda::SliceCopyMethod;
  const SliceCase few{3, 5, 7, 2, 11, 4, 4};  // 3 rows, a slice in the middle of both
  check_against_cpu<float>(few, std::int64_t{1} << 31, M::Pitched2D);
  check_against_cpu<float>(few, 16, M::PerRow);
  const SliceCase many{cuda::kMaxRowCopies + 13, 3, 9, 1, 5, 0, 5};
  check_against_cpu<std::uint8_t>(many, 8, M::Kernel);
  check_against_cpu<std::int32_t>(many, 8, M::Kernel);
  check_against_cpu<std::int64_t>(many, 8, M::Kernel);
  const SliceCase one_row{1, 1, 1000, 17, 1500, 300, 900};
  check_against_cpu<float>(one_row, 16, M::Flat);
}

TEST_CASE("cuda slice copy: concat on the device uses the device's maximum pitch and matches the CPU") {
  Generator gen(11);
  const Tensor a = Tensor::normal(Shape{4, 3, 5}, 0, 1, gen);
  const Tensor b = Tensor::normal(Shape{4, 2, 5}, 0, 1, gen);
  std::vector<float> expected(4 * 5 * 5);
  cpu::copy_slice(a.raw_data(), expected.data(), 4, 5, 3, 0, 5, 0, 3, 4);
  cpu::copy_slice(b.raw_data(), expected.data(), 4, 5, 2, 0, 5, 3, 2, 4);
  Tensor out = Tensor::zeros(Shape{4, 5, 5}, DType::F32, kGpu);
  const Tensor a_gpu = a.to(kGpu), b_gpu = b.to(kGpu);
  cuda::copy_slice(a_gpu.raw_device_data(), out.raw_device_data(), 4, 5, 3, 0, 5, 0, 3, 4);
  cuda::copy_slice(b_gpu.raw_device_data(), out.raw_device_data(), 4, 5, 2, 0, 5, 3, 2, 4);
  CHECK(out.to(Device::cpu()).to_vector<float>() == expected);
}
