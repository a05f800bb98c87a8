// CUDA tensors: round trips through the device for every element type, zeros and clone on the
// device, autograd across devices, the caching allocator under tensors, and the errors for CPU
// code given a CUDA tensor. Run only where a CUDA GPU is present.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/cuda/device_memory.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/ops/matmul.h"
#include "core/random.h"
#include "core/storage.h"
#include "core/tensor.h"

using namespace ghm;

namespace {
const Device kGpu = Device::cuda(0);
}

TEST_CASE("cuda tensor: to(cuda) and back gives the same values for every element type and odd sizes") {
  Generator gen(3);
  for (const std::int64_t n : {std::int64_t{0}, std::int64_t{1}, std::int64_t{511}, std::int64_t{100003}}) {
    const Tensor f = Tensor::normal(Shape{n}, 0, 1, gen);
    const Tensor d = f.to(kGpu);
    CHECK(d.device() == kGpu);
    CHECK(d.shape() == f.shape());
    CHECK(d.to(Device::cpu()).to_vector<float>() == f.to_vector<float>());
    std::vector<std::int64_t> i64(static_cast<std::size_t>(n));
    std::vector<std::uint8_t> u8(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < i64.size(); ++i) {
      i64[i] = static_cast<std::int64_t>(i) * 1000003 - 7;
      u8[i] = static_cast<std::uint8_t>(i * 31);
    }
    CHECK(Tensor::from_vector(i64, Shape{n}).to(kGpu).to(Device::cpu()).to_vector<std::int64_t>() == i64);
    CHECK(Tensor::from_vector(u8, Shape{n}).to(kGpu).to(Device::cpu()).to_vector<std::uint8_t>() == u8);
  }
  const Tensor same = Tensor::ones(Shape{3});
  CHECK(same.to(Device::cpu()).shares_storage_with(same));  // already there: no copy
}

TEST_CASE("cuda tensor: zeros, clone and item on the device") {
  const Tensor z = Tensor::zeros(Shape{7, 9}, DType::F32, kGpu);
  CHECK(z.to(Device::cpu()).to_vector<float>() == std::vector<float>(63, 0.0f));
  const Tensor x = Tensor::from_vector<float>({1.5f, -2.0f, 3.25f}, Shape{3}).to(kGpu);
  const Tensor c = x.clone();
  CHECK(c.device() == kGpu);
  CHECK_FALSE(c.shares_storage_with(x));
  CHECK(c.to(Device::cpu()).to_vector<float>() == std::vector<float>{1.5f, -2.0f, 3.25f});
  CHECK(Tensor::from_vector<float>({4.5f}, Shape{1}).to(kGpu).item() == 4.5f);
  CHECK(x.to_string().find("-2") != std::string::npos);
}

TEST_CASE("cuda tensor: the gradient of a device round trip flows back to the CPU leaf") {
  Tensor w = Tensor::from_vector<float>({1, 2, 3}, Shape{3});
  w.set_requires_grad(true);
  const Tensor on_gpu = w.to(kGpu);
  CHECK(on_gpu.requires_grad());
  CHECK(on_gpu.grad_fn()->name == "to_device");
  const Tensor back = on_gpu.to(Device::cpu());
  sum(mul(back, back)).backward();  // d/dw = 2w
  CHECK(w.grad().device() == Device::cpu());
  CHECK(w.grad().to_vector<float>() == std::vector<float>{2, 4, 6});
}

TEST_CASE("cuda tensor: CPU code given a CUDA tensor fails clearly") {
  const Tensor x = Tensor::ones(Shape{4}).to(kGpu);
  CHECK_THROWS_WITH_AS((void)x.data<float>(), doctest::Contains("a tensor on cuda:0 reached CPU code"), Error);
  // An op given operands on two devices names both instead of reading the wrong memory.
  CHECK_THROWS_WITH_AS((void)matmul(x.reshape({2, 2}), Tensor::ones(Shape{2, 2})),
                       doctest::Contains("matmul: operands on different devices (cuda:0 and cpu)"), Error);
  CHECK_THROWS_WITH_AS((void)x.to_vector<float>(), doctest::Contains("cuda:0"), Error);
}

TEST_CASE("cuda tensor: device memory is reused across iterations and nothing leaks") {
  cuda::CachingAllocator& alloc = cuda::device_allocator(0);
  const std::int64_t blocks_before = Storage::live_blocks();
  const cuda::AllocatorStats before = alloc.stats();
  std::int64_t device_allocations_after_first = 0;
  for (int iteration = 0; iteration < 20; ++iteration) {
    std::vector<Tensor> live;
    for (int i = 0; i < 12; ++i) live.push_back(Tensor::zeros(Shape{1000 + 4096 * (i % 5)}, DType::F32, kGpu));
    if (iteration == 0) device_allocations_after_first = alloc.stats().device_allocations;
  }
  const cuda::AllocatorStats after = alloc.stats();
  CHECK(after.device_allocations == device_allocations_after_first);
  CHECK(after.cache_hits - before.cache_hits >= 19 * 12);
  CHECK(after.allocated_bytes == before.allocated_bytes);
  CHECK(after.live_blocks == before.live_blocks);
  CHECK(Storage::live_blocks() == blocks_before);
}

TEST_CASE("cuda tensors: element type conversions equal the CPU's static_cast") {
  const std::vector<float> f{-2.75f, -1.5f, -0.5f, 0.0f, 0.5f, 1.0f, 2.999f, 255.0f, 1e6f};
  const Tensor x = Tensor::from_vector<float>(f, {static_cast<std::int64_t>(f.size())});
  for (DType from : {DType::F32, DType::I32, DType::I64, DType::U8}) {
    const Tensor src = from == DType::F32 ? x : (from == DType::U8 ? x.to(DType::I32).to(DType::U8) : x.to(from));
    for (DType to : {DType::F32, DType::I32, DType::I64, DType::U8}) {
      if (to == DType::U8 && from != DType::U8) continue;  // negative values: no defined static_cast
      CAPTURE(from);
      CAPTURE(to);
      const Tensor cpu = src.to(to), gpu = src.to(Device::cuda(0)).to(to);
      CHECK(gpu.device() == Device::cuda(0));
      CHECK(gpu.dtype() == to);
      CHECK(gpu.to(Device::cpu()).to(DType::F32).to_vector<float>() == cpu.to(DType::F32).to_vector<float>());
    }
  }
  CHECK(Tensor::empty(Shape{0, 3}, DType::I32, Device::cuda(0)).to(DType::I64).numel() == 0);
}
