// Shape kernels on CUDA.
//
//   permute_copy:  one thread per output element: its multi-index over the planned (coalesced)
//                  dimensions gives the source offset (core/ops/permute_plan.h); writes are
//                  coalesced, reads are where the permutation puts them
//   copy_slice:    `outer` rows of len * inner elements between rows len_src * inner and
//                  len_dst * inner elements long; core/cuda/slice_copy_plan.h picks the copy: one
//                  flat cudaMemcpyAsync when the rows are contiguous, else one cudaMemcpy2DAsync
//                  while both pitches are below the device's maximum pitch (cudaDevAttrMaxPitch,
//                  queried once per device), else one cudaMemcpyAsync per row (few rows), else
//                  slice_copy_kernel: one thread per element, grid-stride, 64-bit offsets
//                    out[r * dst_pitch + c] = x[r * src_pitch + c],  i = r * row + c  (in elements)
#include "core/cuda/shape_cuda.h"

#include <algorithm>
#include <array>
#include <atomic>

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

template <class T>
__global__ void slice_copy_kernel(const T* __restrict__ x, T* __restrict__ out, std::int64_t row,
                                  std::int64_t src_pitch, std::int64_t dst_pitch, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t r = i / row, c = i - r * row;
    out[r * dst_pitch + c] = x[r * src_pitch + c];
  }
}

// The plan's sizes in elements of T; x and out already point at the slice's first element.
template <class T>
void launch_slice_copy(const void* x, void* out, const SliceCopyPlan& p) {
  const std::int64_t row = p.width / p.elem_bytes, n = p.rows * row;
  slice_copy_kernel<T><<<blocks_for(n), kThreads>>>(static_cast<const T*>(x), static_cast<T*>(out), row,
                                                    p.src_pitch / p.elem_bytes, p.dst_pitch / p.elem_bytes, n);
  GHM_CUDA_CHECK_LAUNCH();
}

// cudaDevAttrMaxPitch of the current device, queried on its first use (0: not yet known).
constexpr int kMaxDevices = 64;
std::array<std::atomic<std::int64_t>, kMaxDevices> g_max_pitch{};

std::int64_t current_device_max_pitch() {
  int device = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&device));
  GHM_CHECK(device >= 0 && device < kMaxDevices, "copy_slice: device index ", device, " is past the ", kMaxDevices,
            " devices supported");
  std::atomic<std::int64_t>& cached = g_max_pitch[static_cast<std::size_t>(device)];
  std::int64_t max_pitch = cached.load(std::memory_order_relaxed);
  if (max_pitch == 0) {
    int value = 0;
    GHM_CUDA_CHECK(cudaDeviceGetAttribute(&value, cudaDevAttrMaxPitch, device));
    max_pitch = value;
    cached.store(max_pitch, std::memory_order_relaxed);
  }
  return max_pitch;
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
  if (outer <= 0 || len * inner <= 0) return;
  copy_slice_planned(src, dst, plan_slice_copy(outer, inner, len_src, src_start, len_dst, dst_start, len, elem_bytes,
                                               current_device_max_pitch()));
}

void copy_slice_planned(const void* src, void* dst, const SliceCopyPlan& p) {
  const auto* s = static_cast<const unsigned char*>(src) + p.src_offset;
  auto* d = static_cast<unsigned char*>(dst) + p.dst_offset;
  const auto bytes = [](std::int64_t v) { return static_cast<std::size_t>(v); };
  switch (p.method) {
    case SliceCopyMethod::None: return;
    case SliceCopyMethod::Flat:
      GHM_CUDA_CHECK(cudaMemcpyAsync(d, s, bytes(p.rows * p.width), cudaMemcpyDeviceToDevice));
      return;
    case SliceCopyMethod::Pitched2D:
      GHM_CUDA_CHECK(cudaMemcpy2DAsync(d, bytes(p.dst_pitch), s, bytes(p.src_pitch), bytes(p.width), bytes(p.rows),
                                       cudaMemcpyDeviceToDevice));
      return;
    case SliceCopyMethod::PerRow:
      for (std::int64_t r = 0; r < p.rows; ++r) {
        GHM_CUDA_CHECK(cudaMemcpyAsync(d + r * p.dst_pitch, s + r * p.src_pitch, bytes(p.width),
                                       cudaMemcpyDeviceToDevice));
      }
      return;
    case SliceCopyMethod::Kernel:
      switch (p.elem_bytes) {
        case 1: return launch_slice_copy<std::uint8_t>(s, d, p);
        case 2: return launch_slice_copy<std::uint16_t>(s, d, p);
        case 4: return launch_slice_copy<std::uint32_t>(s, d, p);
        case 8: return launch_slice_copy<std::uint64_t>(s, d, p);
        default: GHM_FAIL("copy_slice: unsupported element size ", p.elem_bytes);
      }
  }
}

}  // namespace ghm::cuda
