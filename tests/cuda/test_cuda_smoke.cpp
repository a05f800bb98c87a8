// GPU smoke tests: device memory round trips, a real kernel against a CPU loop, and error
// messages that name the failing statement. Run only where a CUDA GPU is present.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/cublas_handle.h"
#include "core/cuda/cudnn_handle.h"
#include "core/cuda/device_buffer.h"
#include "core/cuda/smoke.h"
#include "core/random.h"

namespace {

std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  ghm::Generator gen(seed);
  std::vector<float> v(n);
  for (float& x : v) x = gen.uniform(-4.0f, 4.0f);
  return v;
}

std::string error_message_of(auto&& statement) {
  try {
    statement();
  } catch (const ghm::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("DeviceBuffer copies host data to the device and back unchanged") {
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000003}}) {
    CAPTURE(n);
    const std::vector<float> host = random_floats(n, 7 + n);
    ghm::DeviceBuffer<float> buffer(n);
    CHECK(buffer.size() == n);
    CHECK(buffer.bytes() == n * sizeof(float));
    CHECK((n == 0) == (buffer.data() == nullptr));
    buffer.copy_from_host(host);
    const std::vector<float> back = buffer.to_host();
    REQUIRE(back.size() == n);
    // A memcpy round trip is bit-exact, so compare bytes rather than float values.
    CHECK(std::memcmp(back.data(), host.data(), n * sizeof(float)) == 0);
  }
}

TEST_CASE("DeviceBuffer is move-only and a moved-from buffer is empty") {
  std::vector<std::int32_t> host(1001);
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<std::int32_t>(i) * 3 - 500;
  ghm::DeviceBuffer<std::int32_t> a(host.size());
  a.copy_from_host(host);
  const std::int32_t* device_pointer = a.data();

  ghm::DeviceBuffer<std::int32_t> b(std::move(a));
  CHECK(a.data() == nullptr);
  CHECK(a.size() == 0);
  CHECK(b.data() == device_pointer);
  CHECK(b.to_host() == host);

  ghm::DeviceBuffer<std::int32_t> c(5);
  c = std::move(b);
  CHECK(b.empty());
  CHECK(c.size() == host.size());
  CHECK(c.to_host() == host);
}

TEST_CASE("DeviceBuffer copies check the host range size") {
  ghm::DeviceBuffer<float> buffer(10);
  std::vector<float> wrong(9);
  const std::string to_device = error_message_of([&] { buffer.copy_from_host(wrong); });
  CHECK(to_device.find("copy_from_host") != std::string::npos);
  CHECK(to_device.find("9") != std::string::npos);
  const std::string to_host = error_message_of([&] { buffer.copy_to_host(wrong); });
  CHECK(to_host.find("copy_to_host") != std::string::npos);
}

TEST_CASE("cuda_axpy matches a CPU loop") {
  const float a = 1.75f;
  for (const std::int64_t n : {std::int64_t{1}, std::int64_t{1000003}, std::int64_t{0}}) {
    CAPTURE(n);
    const auto count = static_cast<std::size_t>(n);
    const std::vector<float> x = random_floats(count, 11);
    const std::vector<float> y = random_floats(count, 12);

    ghm::DeviceBuffer<float> x_device(count), y_device(count);
    x_device.copy_from_host(x);
    y_device.copy_from_host(y);
    ghm::cuda_axpy(a, x_device.data(), y_device.data(), n);
    const std::vector<float> result = y_device.to_host();

    // One multiply-add per element: the GPU may fuse it into an FMA (one rounding) where the CPU
    // loop rounds twice, so the two may differ by about one ulp of the larger term.
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const float expected = a * x[i] + y[i];
      const float scale = std::fabs(a * x[i]) + std::fabs(y[i]);
      if (std::fabs(result[i] - expected) > 4.0f * std::numeric_limits<float>::epsilon() * scale) ++mismatches;
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("CUDA, cuBLAS and cuDNN checks name the failing statement") {
  SUBCASE("a failed allocation names cudaMalloc and the error") {
    const std::string message = error_message_of([] { ghm::DeviceBuffer<float> huge(std::size_t{1} << 50); });
    CHECK(message.find("cudaMalloc") != std::string::npos);
    CHECK(message.find("cudaErrorMemoryAllocation") != std::string::npos);
    CHECK(message.find("device_buffer.h") != std::string::npos);
  }
  SUBCASE("a runtime call with a bad argument") {
    const std::string message = error_message_of([] { GHM_CUDA_CHECK(cudaSetDevice(-1)); });
    CHECK(message.find("cudaSetDevice(-1)") != std::string::npos);
    CHECK(message.find("cudaErrorInvalidDevice") != std::string::npos);
    CHECK(message.find("test_cuda_smoke.cpp") != std::string::npos);
  }
  SUBCASE("a cuDNN descriptor with a negative extent") {
    const std::string message = error_message_of([] {
      ghm::cuda::cudnn_detail::Owned<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>
          desc;
      GHM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, -3, 8, 8));
    });
    CHECK(message.find("cudnnSetTensor4dDescriptor") != std::string::npos);
    CHECK(message.find("CUDNN_STATUS_BAD_PARAM") != std::string::npos);
  }
  SUBCASE("a cuBLAS call with a negative size") {
    const float alpha = 1.0f, beta = 0.0f;
    const std::string message = error_message_of([&] {
      GHM_CUBLAS_CHECK(cublasSgemm(ghm::cuda::cublas_handle(0), CUBLAS_OP_N, CUBLAS_OP_N, -1, 1, 1, &alpha, nullptr,
                                   1, nullptr, 1, &beta, nullptr, 1));
    });
    CHECK(message.find("cublasSgemm") != std::string::npos);
    CHECK(message.find("CUBLAS_STATUS_INVALID_VALUE") != std::string::npos);
  }
  SUBCASE("an extent that does not fit cuDNN's int") {
    const std::string message = error_message_of([] { ghm::cuda::TensorDescriptor desc(1, -3, 8, 8); });
    CHECK(message.find("does not fit") != std::string::npos);
  }
  // The failures above were not sticky and the checks cleared them: a later launch check is clean.
  CHECK_NOTHROW(GHM_CUDA_CHECK_LAUNCH());
}

TEST_CASE("cuDNN descriptors and the per-device handles") {
  const cudnnHandle_t cudnn = ghm::cuda::cudnn_handle(0);
  CHECK(cudnn != nullptr);
  CHECK(ghm::cuda::cudnn_handle(0) == cudnn);  // one per device and thread, made once
  CHECK(ghm::cuda::cublas_handle(0) != nullptr);
  ghm::cuda::TensorDescriptor desc(1, 16, 9, 11);
  cudnnDataType_t type{};
  int n = 0, c = 0, h = 0, w = 0, ns = 0, cs = 0, hs = 0, ws = 0;
  GHM_CUDNN_CHECK(cudnnGetTensor4dDescriptor(desc.get(), &type, &n, &c, &h, &w, &ns, &cs, &hs, &ws));
  CHECK(type == CUDNN_DATA_FLOAT);
  CHECK((n == 1 && c == 16 && h == 9 && w == 11));
  CHECK((ns == 16 * 9 * 11 && cs == 9 * 11 && hs == 11 && ws == 1));

  ghm::cuda::TensorDescriptor moved(std::move(desc));
  CHECK(moved.get() != nullptr);
}
