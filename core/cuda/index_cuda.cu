// index_select and gather on CUDA, forward and backward, bit for bit equal to the CPU twins
// (core/cpu/shape_cpu.cpp). Along the selected dimension a contiguous tensor is an
// [outer, extent, inner] block; gather works on full multi-indices (up to kMaxDims).
//
//   widen_index           out[i] = (i64) index[i]
//   check_index_range     one thread per entry; an entry outside [0, limit) records n - i with an
//                         integer atomicMax, so the flag ends as n - (first bad position) whatever
//                         the order; the host reads the flag (and then the bad value) back
//   index_select_forward  one thread per output (o, i, k): out = x[o, index[i], k]; threads of a
//                         warp take consecutive k, so reads and writes are coalesced
//   gather_forward        one thread per index element m: its row-major multi-index gives the
//                         source offset sum_d (d == dim ? index[m] : m_d) * x_stride[d]
//   the backwards         a scatter-add dx[dest(t)] += g[t] made deterministic without atomics:
//                           1. keys: the destination of every source position t (index_select:
//                              index[i] itself; gather: the forward's source offset of m)
//                           2. cub::DeviceRadixSort::SortPairs (stable) sorts the positions
//                              0..n-1 by key over the bits [0, bit_width(count - 1)), so that each
//                              destination's positions form one run, in increasing order
//                           3. starts[d] = lower_bound(sorted keys, d) for d in [0, count]
//                           4. one thread per dx element adds its run from 0 in that order
//                         which is the order of the CPU's serial loop: the sums are identical.
//
// Temporary buffers are tensors on the current device (the caching allocator); every kernel and
// the sort run on the legacy default stream, so they are ordered with each other and with the
// buffers' release. Launches: 256-thread blocks over a grid-stride loop (core/cuda/launch.h).
#include "core/cuda/index_cuda.h"

#include <algorithm>
#include <bit>
#include <cub/device/device_radix_sort.cuh>

#include "core/check.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"
#include "core/tensor.h"

namespace ghm::cuda {
namespace {

Device current_device() {
  int d = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&d));
  return Device::cuda(d);
}

__global__ void widen_index_kernel(const std::int32_t* __restrict__ index, std::int64_t* __restrict__ out,
                                   std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = index[i];
}

__global__ void find_out_of_range_kernel(const std::int64_t* __restrict__ index, std::int64_t n, std::int64_t limit,
                                         unsigned long long* __restrict__ flag) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t v = index[i];
    if (v < 0 || v >= limit) atomicMax(flag, static_cast<unsigned long long>(n - i));
  }
}

__global__ void index_select_forward_kernel(const float* __restrict__ x,             // [outer, n_src, inner]
                                            const std::int64_t* __restrict__ index,  // [n_idx]
                                            float* __restrict__ out,                 // [outer, n_idx, inner]
                                            std::int64_t total, std::int64_t n_src, std::int64_t n_idx,
                                            std::int64_t inner) {
  for (std::int64_t t = first_index(); t < total; t += grid_stride()) {
    const std::int64_t k = t % inner, i = (t / inner) % n_idx, o = t / (inner * n_idx);
    out[t] = x[(o * n_src + index[i]) * inner + k];
  }
}

// The multi-index layout of gather: index_shape's extents and x's strides.
struct GatherPlan {
  int ndim;
  int dim;
  std::int64_t index_dims[kMaxDims];
  std::int64_t x_strides[kMaxDims];
};

GatherPlan plan_gather(const Shape& x_shape, const Shape& index_shape, int dim) {
  GatherPlan p{};
  p.ndim = index_shape.ndim();
  p.dim = dim;
  for (int d = 0; d < p.ndim; ++d) {
    p.index_dims[d] = index_shape[d];
    p.x_strides[d] = x_shape.stride(d);
  }
  return p;
}

// x's offset read by index element t.
__device__ __forceinline__ std::int64_t gather_source(std::int64_t t, const GatherPlan& p,
                                                      const std::int64_t* __restrict__ index) {
  std::int64_t rem = t, src = 0;
  for (int d = p.ndim - 1; d >= 0; --d) {
    const std::int64_t coord = rem % p.index_dims[d];
    rem /= p.index_dims[d];
    src += (d == p.dim ? index[t] : coord) * p.x_strides[d];
  }
  return src;
}

__global__ void gather_forward_kernel(const float* __restrict__ x,             // x_shape
                                      const std::int64_t* __restrict__ index,  // index_shape
                                      float* __restrict__ out,                 // index_shape
                                      std::int64_t total, GatherPlan p) {
  for (std::int64_t t = first_index(); t < total; t += grid_stride()) out[t] = x[gather_source(t, p, index)];
}

__global__ void gather_destinations_kernel(const std::int64_t* __restrict__ index,  // index_shape
                                           std::int64_t* __restrict__ dest,         // index_shape
                                           std::int64_t total, GatherPlan p) {
  for (std::int64_t t = first_index(); t < total; t += grid_stride()) dest[t] = gather_source(t, p, index);
}

__global__ void iota_kernel(std::int64_t* __restrict__ out, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = i;
}

// starts[d] = the first position s with sorted_keys[s] >= d, for d in [0, count].
__global__ void run_starts_kernel(const std::int64_t* __restrict__ sorted_keys,  // [n]
                                  std::int64_t n,
                                  std::int64_t* __restrict__ starts,  // [count + 1]
                                  std::int64_t count) {
  for (std::int64_t d = first_index(); d <= count; d += grid_stride()) {
    std::int64_t lo = 0, hi = n;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (sorted_keys[mid] >= d)
        hi = mid;
      else
        lo = mid + 1;
    }
    starts[d] = lo;
  }
}

__global__ void index_select_backward_kernel(const float* __restrict__ g,                 // [outer, n_idx, inner]
                                             const std::int64_t* __restrict__ positions,  // [n_idx] sorted by index
                                             const std::int64_t* __restrict__ starts,     // [n_src + 1]
                                             float* __restrict__ dx,                      // [outer, n_src, inner]
                                             std::int64_t total, std::int64_t n_src, std::int64_t n_idx,
                                             std::int64_t inner) {
  for (std::int64_t t = first_index(); t < total; t += grid_stride()) {
    const std::int64_t k = t % inner, j = (t / inner) % n_src, o = t / (inner * n_src);
    const float* src = g + o * n_idx * inner + k;
    float acc = 0.0f;
    for (std::int64_t s = starts[j]; s < starts[j + 1]; ++s) acc += src[positions[s] * inner];
    dx[t] = acc;
  }
}

__global__ void gather_backward_kernel(const float* __restrict__ g,                 // index_shape
                                       const std::int64_t* __restrict__ positions,  // [numel(index)] sorted by dest
                                       const std::int64_t* __restrict__ starts,     // [numel(x) + 1]
                                       float* __restrict__ dx,                      // x_shape
                                       std::int64_t total) {
  for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
    float acc = 0.0f;
    for (std::int64_t s = starts[e]; s < starts[e + 1]; ++s) acc += g[positions[s]];
    dx[e] = acc;
  }
}

// The source positions 0..n-1 grouped by destination: destination d owns
// positions[starts[d] .. starts[d + 1]), in increasing order.
struct Runs {
  Tensor positions;  // i64 [n]
  Tensor starts;     // i64 [count + 1]
};

// keys: [n] destinations in [0, count), count >= 1, n >= 1.
Runs group_by_destination(const std::int64_t* keys, std::int64_t n, std::int64_t count) {
  const Device device = current_device();
  Tensor order = Tensor::empty(Shape{n}, DType::I64, device);
  iota_kernel<<<blocks_for(n), kThreads>>>(order.device_data<std::int64_t>(), n);
  GHM_CUDA_CHECK_LAUNCH();
  Tensor sorted_keys = Tensor::empty(Shape{n}, DType::I64, device);
  Runs runs{Tensor::empty(Shape{n}, DType::I64, device), Tensor::empty(Shape{count + 1}, DType::I64, device)};
  // Keys are non-negative, so their low bits alone order them (the sign bit cub flips lies above).
  const int end_bit = std::max(1, static_cast<int>(std::bit_width(static_cast<std::uint64_t>(count - 1))));
  std::size_t temp_bytes = 0;
  GHM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys, sorted_keys.device_data<std::int64_t>(),
                                                 order.device_data<std::int64_t>(),
                                                 runs.positions.device_data<std::int64_t>(), n, 0, end_bit));
  // At least one byte: a null temporary pointer would make the second call another size query.
  Tensor temp = Tensor::empty(Shape{static_cast<std::int64_t>(std::max<std::size_t>(temp_bytes, 1))}, DType::U8, device);
  GHM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.raw_device_data(), temp_bytes, keys,
                                                 sorted_keys.device_data<std::int64_t>(),
                                                 order.device_data<std::int64_t>(),
                                                 runs.positions.device_data<std::int64_t>(), n, 0, end_bit));
  run_starts_kernel<<<blocks_for(count + 1), kThreads>>>(sorted_keys.device_data<std::int64_t>(), n,
                                                         runs.starts.device_data<std::int64_t>(), count);
  GHM_CUDA_CHECK_LAUNCH();
  return runs;
}

}  // namespace

void widen_index(const std::int32_t* index, std::int64_t* out, std::int64_t n) {
  if (n == 0) return;
  widen_index_kernel<<<blocks_for(n), kThreads>>>(index, out, n);
  GHM_CUDA_CHECK_LAUNCH();
}

void check_index_range(const std::int64_t* index, std::int64_t n, std::int64_t limit, const char* op) {
  if (n == 0) return;
  Tensor flag_storage = Tensor::empty(Shape{1}, DType::I64, current_device());
  auto* flag = static_cast<unsigned long long*>(flag_storage.raw_device_data());
  GHM_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(unsigned long long)));
  find_out_of_range_kernel<<<blocks_for(n), kThreads>>>(index, n, limit, flag);
  GHM_CUDA_CHECK_LAUNCH();
  unsigned long long found = 0;
  GHM_CUDA_CHECK(cudaMemcpy(&found, flag, sizeof(found), cudaMemcpyDeviceToHost));
  if (found == 0) return;
  const std::int64_t position = n - static_cast<std::int64_t>(found);
  std::int64_t value = 0;
  GHM_CUDA_CHECK(cudaMemcpy(&value, index + position, sizeof(value), cudaMemcpyDeviceToHost));
  GHM_FAIL(op, ": index ", value, " at position ", position, " is out of range [0, ", limit, ")");
}

void index_select_forward(const float* x, const std::int64_t* index, float* out, std::int64_t outer, std::int64_t n_src,
                          std::int64_t n_idx, std::int64_t inner) {
  const std::int64_t total = outer * n_idx * inner;
  if (total == 0) return;
  index_select_forward_kernel<<<blocks_for(total), kThreads>>>(x, index, out, total, n_src, n_idx, inner);
  GHM_CUDA_CHECK_LAUNCH();
}

void index_select_backward(const float* g, const std::int64_t* index, float* dx, std::int64_t outer, std::int64_t n_src,
                           std::int64_t n_idx, std::int64_t inner) {
  const std::int64_t total = outer * n_src * inner;
  if (total == 0) return;
  if (n_idx == 0 || outer * inner == 0) {  // nothing selected: a zero gradient
    GHM_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<std::size_t>(total) * sizeof(float)));
    return;
  }
  const Runs runs = group_by_destination(index, n_idx, n_src);
  index_select_backward_kernel<<<blocks_for(total), kThreads>>>(g, runs.positions.device_data<std::int64_t>(),
                                                                runs.starts.device_data<std::int64_t>(), dx, total,
                                                                n_src, n_idx, inner);
  GHM_CUDA_CHECK_LAUNCH();
}

void gather_forward(const float* x, const Shape& x_shape, const std::int64_t* index, const Shape& index_shape, int dim,
                    float* out) {
  const std::int64_t total = index_shape.numel();
  if (total == 0) return;
  gather_forward_kernel<<<blocks_for(total), kThreads>>>(x, index, out, total, plan_gather(x_shape, index_shape, dim));
  GHM_CUDA_CHECK_LAUNCH();
}

void gather_backward(const float* g, const std::int64_t* index, const Shape& index_shape, int dim, float* dx,
                     const Shape& x_shape) {
  const std::int64_t total = x_shape.numel(), n = index_shape.numel();
  if (total == 0) return;
  if (n == 0) {  // nothing gathered: a zero gradient
    GHM_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<std::size_t>(total) * sizeof(float)));
    return;
  }
  Tensor dest = Tensor::empty(Shape{n}, DType::I64, current_device());
  gather_destinations_kernel<<<blocks_for(n), kThreads>>>(index, dest.device_data<std::int64_t>(), n,
                                                          plan_gather(x_shape, index_shape, dim));
  GHM_CUDA_CHECK_LAUNCH();
  const Runs runs = group_by_destination(dest.device_data<std::int64_t>(), n, total);
  gather_backward_kernel<<<blocks_for(total), kThreads>>>(g, runs.positions.device_data<std::int64_t>(),
                                                          runs.starts.device_data<std::int64_t>(), dx, total);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::cuda
