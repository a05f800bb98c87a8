// float32 <-> bf16 / fp16 on CUDA, one thread per element (grid-stride):
//   narrow: dst[i] = round_nearest_even(src[i])      widen: dst[i] = src[i] (exact)
#include "core/cuda/half_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/check.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"

namespace ghm::cuda {
namespace {

__device__ __forceinline__ void narrow(float x, __nv_bfloat16* out) { *out = __float2bfloat16_rn(x); }
__device__ __forceinline__ void narrow(float x, __half* out) { *out = __float2half_rn(x); }
__device__ __forceinline__ float widen(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float widen(__half x) { return __half2float(x); }

template <class Low>
__global__ void narrow_kernel(const float* __restrict__ src, Low* __restrict__ dst, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) narrow(src[i], dst + i);
}

template <class Low>
__global__ void widen_kernel(const Low* __restrict__ src, float* __restrict__ dst, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = widen(src[i]);
}

void check_low(Precision p) {
  GHM_CHECK(p == Precision::BF16 || p == Precision::F16, "CUDA conversion to ", precision_name(p),
            ": only bf16 and fp16 are 16-bit");
}

}  // namespace

int precision_bytes(Precision p) { return p == Precision::F32 ? 4 : 2; }

void float_to_low(const float* src, void* dst, std::int64_t n, Precision p) {
  check_low(p);
  if (n == 0) return;
  if (p == Precision::BF16)
    narrow_kernel<<<blocks_for(n), kThreads>>>(src, static_cast<__nv_bfloat16*>(dst), n);
  else
    narrow_kernel<<<blocks_for(n), kThreads>>>(src, static_cast<__half*>(dst), n);
  GHM_CUDA_CHECK_LAUNCH();
}

void low_to_float(const void* src, float* dst, std::int64_t n, Precision p) {
  check_low(p);
  if (n == 0) return;
  if (p == Precision::BF16)
    widen_kernel<<<blocks_for(n), kThreads>>>(static_cast<const __nv_bfloat16*>(src), dst, n);
  else
    widen_kernel<<<blocks_for(n), kThreads>>>(static_cast<const __half*>(src), dst, n);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::cuda
