// Max pooling and nearest resizing on CUDA, forward and backward, bit for bit equal to the CPU
// twins (core/cpu/pool_cpu.cpp). Letters: P = N*C planes, H x W input plane, HO x WO output plane;
// all tensors row-major, planes contiguous.
//
//   max_pool2d_forward    one thread per output (p, oh, ow): scans its window
//                         rows [oh*sh - ph, +kh) x cols [ow*sw - pw, +kw), clipped to the plane
//                         (padding counts as -inf), in row-major order; a value replaces the best
//                         when it is larger, or when it is NaN and the best is not, so the result
//                         is the first maximum or the first NaN (PyTorch's rule), and argmax its
//                         flat index ih*W + iw within the plane
//   max_pool2d_backward   one thread per input (p, ih, iw): the windows that contain it are
//                         oh in [max(0, floor((ih + ph - kh) / sh) + 1), min(HO, (ih + ph) / sh + 1))
//                         (likewise ow); dx = sum of dy over those with argmax == ih*W + iw, in
//                         row-major output order, from 0 -- the order in which the CPU adds them
//   upsample_nearest      src(i) = i (same size), i / 2 (twice the size), otherwise
//                         min(floor(i * (in / out)), in - 1) with the scale in float;
//                         forward: one thread per output reads x[src_h(i), src_w(j)]
//   upsample backward     src is non-decreasing, so the outputs reading input row a are one
//                         contiguous range [first i with src_h(i) >= a, first i with src_h(i) > a),
//                         found by binary search (likewise columns); one thread per input sums
//                         that block of dy in row-major order, from 0, as the CPU does
//
// No atomics anywhere: every output element is written by one thread, so results do not depend
// on scheduling. Launches: 256-thread blocks over a grid-stride loop (core/cuda/launch.h).
#include "core/cuda/pool_cuda.h"

#include <math_constants.h>

#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"

namespace ghm::cuda {
namespace {

struct Window {
  int kh, kw, sh, sw, ph, pw;
};

Window window_of(const Pool2dParams& p) { return {p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w}; }

__global__ void max_pool2d_forward_kernel(const float* __restrict__ x,        // [P, H, W]
                                          float* __restrict__ y,              // [P, HO, WO]
                                          std::int32_t* __restrict__ argmax,  // [P, HO, WO]
                                          std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t ho,
                                          std::int64_t wo, Window k) {
  for (std::int64_t t = first_index(); t < n; t += grid_stride()) {
    const std::int64_t ow = t % wo, oh = (t / wo) % ho, pl = t / (wo * ho);
    const std::int64_t h0 = oh * k.sh - k.ph, w0 = ow * k.sw - k.pw;
    const std::int64_t ih_begin = h0 > 0 ? h0 : 0, iw_begin = w0 > 0 ? w0 : 0;
    const std::int64_t ih_end = h0 + k.kh < h ? h0 + k.kh : h, iw_end = w0 + k.kw < w ? w0 + k.kw : w;
    const float* src = x + pl * h * w;
    float best = -CUDART_INF_F;
    std::int64_t best_i = ih_begin * w + iw_begin;
    for (std::int64_t ih = ih_begin; ih < ih_end; ++ih)
      for (std::int64_t iw = iw_begin; iw < iw_end; ++iw) {
        const float v = src[ih * w + iw];
        if (v > best || (v != v && best == best)) {
          best = v;
          best_i = ih * w + iw;
        }
      }
    y[t] = best;
    argmax[t] = static_cast<std::int32_t>(best_i);
  }
}

// The outputs along one axis whose window [o*s - pad, o*s - pad + kernel) holds input i: [lo, hi).
__device__ __forceinline__ void windows_holding(std::int64_t i, int kernel, int stride, int pad, std::int64_t out,
                                                std::int64_t& lo, std::int64_t& hi) {
  const std::int64_t before = i + pad - kernel;  // o*s > before  <=>  the window ends after i
  lo = before < 0 ? 0 : before / stride + 1;
  const std::int64_t last = (i + pad) / stride + 1;  // o*s - pad <= i  <=>  the window starts at or before i
  hi = last < out ? last : out;
}

__global__ void max_pool2d_backward_kernel(const float* __restrict__ dy,              // [P, HO, WO]
                                           const std::int32_t* __restrict__ argmax,  // [P, HO, WO]
                                           float* __restrict__ dx,                   // [P, H, W]
                                           std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t ho,
                                           std::int64_t wo, Window k) {
  for (std::int64_t t = first_index(); t < n; t += grid_stride()) {
    const std::int64_t iw = t % w, ih = (t / w) % h, pl = t / (w * h);
    const std::int32_t self = static_cast<std::int32_t>(ih * w + iw);
    std::int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    windows_holding(ih, k.kh, k.sh, k.ph, ho, oh_lo, oh_hi);
    windows_holding(iw, k.kw, k.sw, k.pw, wo, ow_lo, ow_hi);
    const std::int64_t plane = pl * ho * wo;
    float acc = 0.0f;
    for (std::int64_t oh = oh_lo; oh < oh_hi; ++oh)
      for (std::int64_t ow = ow_lo; ow < ow_hi; ++ow) {
        const std::int64_t o = plane + oh * wo + ow;
        if (argmax[o] == self) acc += dy[o];
      }
    dx[t] = acc;
  }
}

// cpu::nearest_source, the same float operations in the same order.
__device__ __forceinline__ std::int64_t nearest_source(std::int64_t dst, std::int64_t in, std::int64_t out) {
  if (in == out) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const auto src = static_cast<std::int64_t>(floorf(static_cast<float>(dst) * scale));
  return src < in - 1 ? src : in - 1;
}

// The first output index whose source is at least `a` (out when there is none).
__device__ std::int64_t first_output_from(std::int64_t a, std::int64_t in, std::int64_t out) {
  std::int64_t lo = 0, hi = out;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (nearest_source(mid, in, out) >= a)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

__global__ void upsample_nearest_forward_kernel(const float* __restrict__ x,  // [P, H, W]
                                                float* __restrict__ y,        // [P, HO, WO]
                                                std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t ho,
                                                std::int64_t wo) {
  for (std::int64_t t = first_index(); t < n; t += grid_stride()) {
    const std::int64_t j = t % wo, i = (t / wo) % ho, pl = t / (wo * ho);
    y[t] = x[(pl * h + nearest_source(i, h, ho)) * w + nearest_source(j, w, wo)];
  }
}

__global__ void upsample_nearest_backward_kernel(const float* __restrict__ dy,  // [P, HO, WO]
                                                 float* __restrict__ dx,        // [P, H, W]
                                                 std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t ho,
                                                 std::int64_t wo) {
  for (std::int64_t t = first_index(); t < n; t += grid_stride()) {
    const std::int64_t b = t % w, a = (t / w) % h, pl = t / (w * h);
    const std::int64_t i_lo = first_output_from(a, h, ho), i_hi = first_output_from(a + 1, h, ho);
    const std::int64_t j_lo = first_output_from(b, w, wo), j_hi = first_output_from(b + 1, w, wo);
    const float* src = dy + pl * ho * wo;
    float acc = 0.0f;
    for (std::int64_t i = i_lo; i < i_hi; ++i)
      for (std::int64_t j = j_lo; j < j_hi; ++j) acc += src[i * wo + j];
    dx[t] = acc;
  }
}

}  // namespace

void max_pool2d_forward(const float* x, float* y, std::int32_t* argmax, std::int64_t planes, std::int64_t h,
                        std::int64_t w, std::int64_t ho, std::int64_t wo, const Pool2dParams& p) {
  const std::int64_t n = planes * ho * wo;
  if (n == 0) return;
  max_pool2d_forward_kernel<<<blocks_for(n), kThreads>>>(x, y, argmax, n, h, w, ho, wo, window_of(p));
  GHM_CUDA_CHECK_LAUNCH();
}

void max_pool2d_backward(const float* dy, const std::int32_t* argmax, float* dx, std::int64_t planes, std::int64_t h,
                         std::int64_t w, std::int64_t ho, std::int64_t wo, const Pool2dParams& p) {
  const std::int64_t n = planes * h * w;
  if (n == 0) return;
  max_pool2d_backward_kernel<<<blocks_for(n), kThreads>>>(dy, argmax, dx, n, h, w, ho, wo, window_of(p));
  GHM_CUDA_CHECK_LAUNCH();
}

void upsample_nearest_forward(const float* x, float* y, std::int64_t planes, std::int64_t h, std::int64_t w,
                              std::int64_t ho, std::int64_t wo) {
  const std::int64_t n = planes * ho * wo;
  if (n == 0) return;
  upsample_nearest_forward_kernel<<<blocks_for(n), kThreads>>>(x, y, n, h, w, ho, wo);
  GHM_CUDA_CHECK_LAUNCH();
}

void upsample_nearest_backward(const float* dy, float* dx, std::int64_t planes, std::int64_t h, std::int64_t w,
                               std::int64_t ho, std::int64_t wo) {
  const std::int64_t n = planes * h * w;
  if (n == 0) return;
  upsample_nearest_backward_kernel<<<blocks_for(n), kThreads>>>(dy, dx, n, h, w, ho, wo);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::cuda
