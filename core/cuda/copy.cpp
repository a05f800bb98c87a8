#include "core/cuda/copy.h"

#include <cstring>

#include "core/cuda/cuda_check.h"

namespace ghm::cuda {

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  if (dst_device.is_cuda() && src_device.is_cuda() && dst_device.index != src_device.index) {
    GHM_CUDA_CHECK(cudaMemcpyPeer(dst, dst_device.index, src, src_device.index, bytes));
    return;
  }
  const cudaMemcpyKind kind = dst_device.is_cpu()   ? cudaMemcpyDeviceToHost
                              : src_device.is_cpu() ? cudaMemcpyHostToDevice
                                                    : cudaMemcpyDeviceToDevice;
  int previous = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&previous));
  const int device = dst_device.is_cuda() ? dst_device.index : src_device.index;
  if (device != previous) GHM_CUDA_CHECK(cudaSetDevice(device));
  const cudaError_t status = cudaMemcpy(dst, src, bytes, kind);
  if (device != previous) GHM_CUDA_WARN(cudaSetDevice(previous));
  GHM_CUDA_CHECK(status);
}

void zero_bytes(void* dst, Device device, std::size_t bytes) {
  GHM_CHECK(device.is_cuda(), "zero_bytes: ", device, " is not a CUDA device");
  if (bytes == 0) return;
  int previous = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&previous));
  if (device.index != previous) GHM_CUDA_CHECK(cudaSetDevice(device.index));
  const cudaError_t status = cudaMemset(dst, 0, bytes);
  if (device.index != previous) GHM_CUDA_WARN(cudaSetDevice(previous));
  GHM_CUDA_CHECK(status);
}

}  // namespace ghm::cuda
