// What this process can run on: the CUDA runtime, libraries and GPUs it sees, and the CPU
// instruction sets, OpenMP and Eigen this binary was compiled for. Reported by
// `ghm_retinanet --version` and used by the GPU test main to skip when there is no GPU.
// Pure C++: usable from every translation unit, with or without CUDA.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ghm {

struct GpuInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability, e.g. 9.0 for H100
  std::size_t total_memory_bytes = 0;
  int multiprocessors = 0;
};

struct CudaRuntimeInfo {
  bool compiled = false;  // this binary was built with the CUDA backend
  std::string cuda_runtime_version, cuda_driver_version, cublas_version, cudnn_version;  // "" when unknown
  std::vector<GpuInfo> gpus;
  std::string error;  // why no GPU was found, e.g. "no CUDA driver"; "" when every device was read
};

// Never throws: without a driver or a GPU it returns an empty gpus list and the reason in `error`.
CudaRuntimeInfo query_cuda_runtime();

// True when this binary has the CUDA backend and at least one GPU can be used.
bool cuda_gpu_available();

// Waits until all work queued on `device` has finished (a no-op for the CPU, whose ops return
// when done): for timing CUDA work from the host.
void synchronize(Device device);

// One line, e.g. "simd: avx512f avx512bw avx2 fma avx sse4.2; openmp 4.5 (201511), 16 threads;
// eigen 3.4.0 (AVX512, FMA, AVX2, ...)".
std::string cpu_features();

}  // namespace ghm
