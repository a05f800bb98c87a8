#include "core/runtime_info.h"

#include "core/check.h"

#include <Eigen/Core>
#include <sstream>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ghm {

namespace {

// The instruction sets the compiler was allowed to use for this binary (its -m / -march flags),
// strongest first. This is what the code was built for, not what the running CPU offers.
std::string compiled_simd() {
  std::string out;
  const auto add = [&out](const char* name) {
    if (!out.empty()) out += ' ';
    out += name;
  };
#ifdef __AVX512F__
  add("avx512f");
#endif
#ifdef __AVX512BW__
  add("avx512bw");
#endif
#ifdef __AVX512DQ__
  add("avx512dq");
#endif
#ifdef __AVX512VL__
  add("avx512vl");
#endif
#ifdef __AVX512VNNI__
  add("avx512vnni");
#endif
#ifdef __AVX512BF16__
  add("avx512bf16");
#endif
#ifdef __AVX512FP16__
  add("avx512fp16");
#endif
#ifdef __AVX2__
  add("avx2");
#endif
#ifdef __FMA__
  add("fma");
#endif
#ifdef __F16C__
  add("f16c");
#endif
#ifdef __AVX__
  add("avx");
#endif
#ifdef __SSE4_2__
  add("sse4.2");
#endif
#ifdef __SSE4_1__
  add("sse4.1");
#endif
#ifdef __SSSE3__
  add("ssse3");
#endif
#ifdef __SSE2__
  add("sse2");
#endif
#ifdef __ARM_NEON
  add("neon");
#endif
  return out.empty() ? std::string("none") : out;
}

#ifdef _OPENMP
// _OPENMP is the date of the specification the compiler implements.
const char* openmp_spec_version(int date) {
  if (date >= 202111) return "5.2";
  if (date >= 202011) return "5.1";
  if (date >= 201811) return "5.0";
  if (date >= 201511) return "4.5";
  if (date >= 201307) return "4.0";
  if (date >= 201107) return "3.1";
  return "3.0 or older";
}
#endif

}  // namespace

std::string cpu_features() {
  std::ostringstream os;
  os << "simd: " << compiled_simd() << "; ";
#ifdef _OPENMP
  os << "openmp " << openmp_spec_version(_OPENMP) << " (" << _OPENMP << "), " << omp_get_max_threads()
     << " threads; ";
#else
  os << "openmp: off; ";
#endif
  os << "eigen " << EIGEN_WORLD_VERSION << '.' << EIGEN_MAJOR_VERSION << '.' << EIGEN_MINOR_VERSION << " ("
     << Eigen::SimdInstructionSetsInUse() << ")";
  return os.str();
}

bool cuda_gpu_available() { return !query_cuda_runtime().gpus.empty(); }

#if !GHM_WITH_CUDA
// Built without the CUDA backend: core/cuda/runtime_info_cuda.cpp is not compiled.
CudaRuntimeInfo query_cuda_runtime() {
  CudaRuntimeInfo info;
  info.error = "built without CUDA (GHM_CUDA=OFF, or no CUDA toolkit with cuBLAS and cuDNN at configure time)";
  return info;
}

void synchronize(Device device) {
  GHM_CHECK(!device.is_cuda(), "synchronize(", device, "): this build has no CUDA backend");
}
#endif

}  // namespace ghm
