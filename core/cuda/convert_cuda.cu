// Element type conversion on CUDA: dst[i] = static_cast<To>(src[i]), one thread per element
// (grid-stride), for every pair of the four element types.
#include "core/cuda/convert_cuda.h"

#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"

namespace ghm::cuda {
namespace {

template <class To, class From>
__global__ void convert_kernel(const From* __restrict__ src, To* __restrict__ dst, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = static_cast<To>(src[i]);
}

template <class To, class From>
void launch(const void* src, void* dst, std::int64_t n) {
  convert_kernel<To, From><<<blocks_for(n), kThreads>>>(static_cast<const From*>(src), static_cast<To*>(dst), n);
  GHM_CUDA_CHECK_LAUNCH();
}

template <class To>
void launch_from(const void* src, DType from, void* dst, std::int64_t n) {
  switch (from) {
    case DType::F32: launch<To, float>(src, dst, n); return;
    case DType::I32: launch<To, std::int32_t>(src, dst, n); return;
    case DType::I64: launch<To, std::int64_t>(src, dst, n); return;
    case DType::U8: launch<To, std::uint8_t>(src, dst, n); return;
  }
}

}  // namespace

void convert(const void* src, DType from, void* dst, DType to, std::int64_t n) {
  if (n == 0) return;
  switch (to) {
    case DType::F32: launch_from<float>(src, from, dst, n); return;
    case DType::I32: launch_from<std::int32_t>(src, from, dst, n); return;
    case DType::I64: launch_from<std::int64_t>(src, from, dst, n); return;
    case DType::U8: launch_from<std::uint8_t>(src, from, dst, n); return;
  }
}

}  // namespace ghm::cuda
