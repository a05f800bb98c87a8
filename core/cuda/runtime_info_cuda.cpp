// query_cuda_runtime() for builds with the CUDA backend: asks the CUDA runtime, cuBLAS and cuDNN
// for their versions and the runtime for its devices. A plain C++ file (host compiler only).
// The query creates no context, allocates no device memory and never throws: every failure
// becomes the text in CudaRuntimeInfo::error. synchronize() is here too (it does throw).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>
#include <utility>

#include "core/runtime_info.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/device_guard.h"

namespace ghm {

namespace {

// CUDA encodes versions as 1000 * major + 10 * minor: 12080 is 12.8.
std::string cuda_version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

std::string cuda_error_text(cudaError_t status) {
  (void)cudaGetLastError();  // a failed query must not be reported later against a kernel launch
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

std::string cublas_version_text() {
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(MINOR_VERSION, &minor) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(PATCH_LEVEL, &patch) != CUBLAS_STATUS_SUCCESS)
    return "";
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

// cudnnGetVersion() changed its encoding in cuDNN 9 (major * 10000 + minor * 100 + patch, before:
// major * 1000 + minor * 100 + patch); both decode here.
std::string cudnn_version_text() {
  const std::size_t version = cudnnGetVersion();
  if (version == 0) return "";
  const std::size_t major_scale = version >= 10000 ? 10000 : 1000;
  return std::to_string(version / major_scale) + "." + std::to_string((version % major_scale) / 100) + "." +
         std::to_string(version % 100);
}

}  // namespace

CudaRuntimeInfo query_cuda_runtime() {
  CudaRuntimeInfo info;
  info.compiled = true;
  info.cublas_version = cublas_version_text();
  info.cudnn_version = cudnn_version_text();

  int runtime_version = 0;
  if (cudaRuntimeGetVersion(&runtime_version) == cudaSuccess)
    info.cuda_runtime_version = cuda_version_text(runtime_version);

  int driver_version = 0;
  const cudaError_t driver_status = cudaDriverGetVersion(&driver_version);
  if (driver_status != cudaSuccess) {
    info.error = "no CUDA driver (" + cuda_error_text(driver_status) + ")";
    return info;
  }
  if (driver_version == 0) {
    info.error = "no CUDA driver (libcuda is not installed)";
    return info;
  }
  info.cuda_driver_version = cuda_version_text(driver_version);

  int count = 0;
  const cudaError_t count_status = cudaGetDeviceCount(&count);
  if (count_status != cudaSuccess) {
    info.error = cuda_error_text(count_status);
    if (count_status == cudaErrorInsufficientDriver)
      info.error += " (driver supports CUDA " + info.cuda_driver_version + ", runtime is " +
                    info.cuda_runtime_version + ")";
    return info;
  }
  if (count == 0) {
    info.error = "no CUDA-capable device is detected";
    return info;
  }

  for (int index = 0; index < count; ++index) {
    cudaDeviceProp prop{};
    const cudaError_t status = cudaGetDeviceProperties(&prop, index);
    if (status != cudaSuccess) {
      if (!info.error.empty()) info.error += "; ";
      info.error += "device " + std::to_string(index) + ": " + cuda_error_text(status);
      continue;
    }
    GpuInfo gpu;
    gpu.index = index;
    gpu.name = prop.name;
    gpu.cc_major = prop.major;
    gpu.cc_minor = prop.minor;
    gpu.total_memory_bytes = prop.totalGlobalMem;
    gpu.multiprocessors = prop.multiProcessorCount;
    info.gpus.push_back(std::move(gpu));
  }
  return info;
}

void synchronize(Device device) {
  if (!device.is_cuda()) return;
  const cuda::DeviceGuard guard(device.index);
  GHM_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace ghm
