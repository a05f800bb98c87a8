// Shape kernels on CUDA.
//
//   permute_copy:  one thread per output element: its multi-index over the planned (coalesced)
//                  dimensions gives the source offset (core/ops/permute_plan.h); writes are
//                  coalesced, reads are where the permutation puts them
//   copy_slice:    a strided 2-D copy (cudaMemcpy2DAsync): `outer` rows of len * inner elements
#include "core/cuda/shape_cuda.h"

#include <algorithm>

#include "core/check.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"
#include "core/ops/permute_plan.h"

namespace ghm::cuda {
namespace {

struct DevicePermutePlan {
  int ndim;
  std::int64_t size[kMaxDims];
  std::int64_t stride[kMaxDims];
};

template <class T>
__global__ void permute_kernel(const T* __restrict__ x, T* __restrict__ out, DevicePermutePlan p, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    std::int64_t rem = i, src = 0;
    for (int d = p.ndim - 1; d >= 0; --d) {
      src += (rem % p.size[d]) * p.stride[d];
      rem /= p.size[d];
    }
    out[i] = x[src];
  }
}

template <class T>
void launch_permute(const void* x, void* out, const PermutePlan& plan, std::int64_t n) {
  DevicePermutePlan d{};
  d.ndim = plan.ndim;
  for (int i = 0; i < kMaxDims; ++i) {
    d.size[i] = plan.size[static_cast<std::size_t>(i)];
    d.stride[i] = plan.stride[static_cast<std::size_t>(i)];
  }
  permute_kernel<T><<<blocks_for(n), kThreads>>>(static_cast<const T*>(x), static_cast<T*>(out), d, n);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void permute_copy(const void* x, void* out, const Shape& in_shape, const int* order, std::size_t elem_bytes) {
  const std::int64_t n = in_shape.numel();
  if (n == 0) return;
  const PermutePlan plan = plan_permute(in_shape, order);
  if (plan.ndim <= 1) {  // a single element or one contiguous run: a plain copy
    GHM_CUDA_CHECK(cudaMemcpyAsync(out, x, static_cast<std::size_t>(n) * elem_bytes, cudaMemcpyDeviceToDevice));
    return;
  }
  switch (elem_bytes) {
    case 1: return launch_permute<std::uint8_t>(x, out, plan, n);
    case 2: return launch_permute<std::uint16_t>(x, out, plan, n);
    case 4: return launch_permute<std::uint32_t>(x, out, plan, n);
    case 8: return launch_permute<std::uint64_t>(x, out, plan, n);
    default: GHM_FAIL("permute_copy: unsupported element size ", elem_bytes);
  }
}

void copy_slice(const void* src, void* dst, std::int64_t outer, std::int64_t inner, std::int64_t len_src,
                std::int64_t src_start, std::int64_t len_dst, std::int64_t dst_start, std::int64_t len,
                std::size_t elem_bytes) {
  const std::size_t width = static_cast<std::size_t>(len * inner) * elem_bytes;
  if (width == 0 || outer == 0) return;
  const auto* s = static_cast<const unsigned char*>(src) + static_cast<std::size_t>(src_start * inner) * elem_bytes;
  auto* d = static_cast<unsigned char*>(dst) + static_cast<std::size_t>(dst_start * inner) * elem_bytes;
  GHM_CUDA_CHECK(cudaMemcpy2DAsync(d, static_cast<std::size_t>(len_dst * inner) * elem_bytes, s,
                                   static_cast<std::size_t>(len_src * inner) * elem_bytes, width,
                                   static_cast<std::size_t>(outer), cudaMemcpyDeviceToDevice));
}

}  // namespace ghm::cuda
