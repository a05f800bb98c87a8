// `ghm_retinanet --version`: what this binary is and what it can run on.
#include <cstdio>

#include "apps/commands.h"
#include "core/runtime_info.h"
#include "ghm/build_info.h"

namespace ghm::app {

void print_version() {
  std::printf("ghm_retinanet %s\n", GHM_VERSION);
  std::printf("build:    %s, %s%s%s\n", GHM_BUILD_TYPE, GHM_BUILD_COMPILER,
              *GHM_BUILD_CPU_FLAGS ? ", " : "", GHM_BUILD_CPU_FLAGS);
  if (*GHM_BUILD_SANITIZE) std::printf("sanitize: %s\n", GHM_BUILD_SANITIZE);
  std::printf("cpu:      %s\n", cpu_features().c_str());
  const CudaRuntimeInfo cuda = query_cuda_runtime();
  if (!cuda.compiled) {
    std::printf("cuda:     not compiled in (configure with -DGHM_CUDA=ON or AUTO with the CUDA toolkit)\n");
  } else {
    std::printf("cuda:     compiled in (%s, architectures %s); runtime %s, driver %s, cuBLAS %s, cuDNN %s\n",
                GHM_BUILD_CUDA_COMPILER, GHM_BUILD_CUDA_ARCHS, cuda.cuda_runtime_version.c_str(),
                cuda.cuda_driver_version.empty() ? "none" : cuda.cuda_driver_version.c_str(),
                cuda.cublas_version.c_str(), cuda.cudnn_version.c_str());
  }
  if (cuda.gpus.empty()) {
    std::printf("gpus:     none%s%s%s\n", cuda.error.empty() ? "" : " (", cuda.error.c_str(), cuda.error.empty() ? "" : ")");
  } else {
    for (const GpuInfo& g : cuda.gpus)
      std::printf("gpu %d:    %s, compute capability %d.%d, %.1f GiB, %d SMs\n", g.index, g.name.c_str(), g.cc_major,
                  g.cc_minor, static_cast<double>(g.total_memory_bytes) / (1024.0 * 1024.0 * 1024.0), g.multiprocessors);
  }
}

}  // namespace ghm::app
