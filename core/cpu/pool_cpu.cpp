// Max pooling and nearest resizing on the CPU, split over planes (one plane = one image channel),
// so the scatter-adds of the backward passes never race.
#include "core/cpu/pool_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/cpu/parallel.h"

namespace ghm::cpu {
namespace {
std::int64_t plane_grain(std::int64_t s) { return std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(s, 1)); }

std::vector<std::int64_t> source_indices(std::int64_t in, std::int64_t out) {
  std::vector<std::int64_t> src(static_cast<std::size_t>(out));
  for (std::int64_t i = 0; i < out; ++i) src[static_cast<std::size_t>(i)] = nearest_source(i, in, out);
  return src;
}
}  // namespace

namespace {

// One output element by the definition: the window's largest value, the first one in row-major
// order on ties, and the first NaN if there is one (PyTorch's semantics).
void max_window(const float* src, std::int64_t h, std::int64_t w, std::int64_t h0, std::int64_t w0,
                const Pool2dParams& p, float& out, std::int32_t& out_index) {
  const std::int64_t h1 = std::min(h0 + p.kernel_h, h), w1 = std::min(w0 + p.kernel_w, w);
  float best = -std::numeric_limits<float>::infinity();
  std::int64_t best_i = std::max<std::int64_t>(h0, 0) * w + std::max<std::int64_t>(w0, 0);
  for (std::int64_t ih = std::max<std::int64_t>(h0, 0); ih < h1; ++ih)
    for (std::int64_t iw = std::max<std::int64_t>(w0, 0); iw < w1; ++iw) {
      const float v = src[ih * w + iw];
      if (v > best || (std::isnan(v) && !std::isnan(best))) {
        best = v;
        best_i = ih * w + iw;
      }
    }
  out = best;
  out_index = static_cast<std::int32_t>(best_i);
}

}  // namespace

void max_pool2d_forward(const float* x, float* y, std::int32_t* argmax, std::int64_t planes, std::int64_t h,
                        std::int64_t w, std::int64_t ho, std::int64_t wo, const Pool2dParams& p) {
  // Output columns whose window lies inside the row: [ow_lo, ow_hi). There the window offsets are
  // applied to a whole row of outputs at a time, in the same row-major order as max_window (so the
  // same tie and NaN rules), which the compiler vectorises.
  const std::int64_t ow_lo = std::min<std::int64_t>(wo, (p.pad_w + p.stride_w - 1) / p.stride_w);
  const std::int64_t last_start = w - p.kernel_w + p.pad_w;  // largest ow * stride_w with the window inside
  const std::int64_t ow_hi =
      last_start < 0 ? ow_lo : std::max<std::int64_t>(ow_lo, std::min<std::int64_t>(wo, last_start / p.stride_w + 1));
  parallel_for(planes, plane_grain(h * w), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t pl = b; pl < e; ++pl) {
      const float* src = x + pl * h * w;
      for (std::int64_t oh = 0; oh < ho; ++oh) {
        const std::int64_t h0 = oh * p.stride_h - p.pad_h;
        float* yr = y + (pl * ho + oh) * wo;
        std::int32_t* ar = argmax + (pl * ho + oh) * wo;
        for (std::int64_t ow = 0; ow < ow_lo; ++ow) max_window(src, h, w, h0, ow * p.stride_w - p.pad_w, p, yr[ow], ar[ow]);
        for (std::int64_t ow = ow_hi; ow < wo; ++ow) max_window(src, h, w, h0, ow * p.stride_w - p.pad_w, p, yr[ow], ar[ow]);
        if (ow_hi <= ow_lo) continue;
        const std::int64_t ih_begin = std::max<std::int64_t>(h0, 0), ih_end = std::min(h0 + p.kernel_h, h);
        const std::int64_t sw = p.stride_w;
        for (std::int64_t ow = ow_lo; ow < ow_hi; ++ow) {
          yr[ow] = -std::numeric_limits<float>::infinity();
          ar[ow] = static_cast<std::int32_t>(ih_begin * w + ow * sw - p.pad_w);
        }
        for (std::int64_t ih = ih_begin; ih < ih_end; ++ih)
          for (std::int64_t kw = 0; kw < p.kernel_w; ++kw) {
            const std::int64_t base = ih * w - p.pad_w + kw;  // source index of output column 0
#pragma omp simd
            for (std::int64_t ow = ow_lo; ow < ow_hi; ++ow) {
              const float v = src[base + ow * sw], cur = yr[ow];
              const bool take = v > cur || (v != v && cur == cur);
              yr[ow] = take ? v : cur;
              ar[ow] = take ? static_cast<std::int32_t>(base + ow * sw) : ar[ow];
            }
          }
      }
    }
  });
}

void max_pool2d_backward(const float* dy, const std::int32_t* argmax, float* dx, std::int64_t planes, std::int64_t h,
                         std::int64_t w, std::int64_t ho, std::int64_t wo) {
  parallel_for(planes, plane_grain(h * w), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t pl = b; pl < e; ++pl) {
      float* dst = dx + pl * h * w;
      std::fill(dst, dst + h * w, 0.0f);
      for (std::int64_t i = pl * ho * wo; i < (pl + 1) * ho * wo; ++i) dst[argmax[i]] += dy[i];
    }
  });
}

std::int64_t nearest_source(std::int64_t dst, std::int64_t in, std::int64_t out) {
  if (in == out) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  return std::min(static_cast<std::int64_t>(std::floor(static_cast<float>(dst) * scale)), in - 1);
}

void upsample_nearest_forward(const float* x, float* y, std::int64_t planes, std::int64_t h, std::int64_t w,
                              std::int64_t ho, std::int64_t wo) {
  const std::vector<std::int64_t> sh = source_indices(h, ho), sw = source_indices(w, wo);
  parallel_for(planes, plane_grain(ho * wo), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t pl = b; pl < e; ++pl)
      for (std::int64_t i = 0; i < ho; ++i) {
        const float* src = x + (pl * h + sh[static_cast<std::size_t>(i)]) * w;
        float* dst = y + (pl * ho + i) * wo;
        for (std::int64_t j = 0; j < wo; ++j) dst[j] = src[sw[static_cast<std::size_t>(j)]];
      }
  });
}

void upsample_nearest_backward(const float* dy, float* dx, std::int64_t planes, std::int64_t h, std::int64_t w,
                               std::int64_t ho, std::int64_t wo) {
  const std::vector<std::int64_t> sh = source_indices(h, ho), sw = source_indices(w, wo);
  parallel_for(planes, plane_grain(ho * wo), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t pl = b; pl < e; ++pl) {
      float* base = dx + pl * h * w;
      std::fill(base, base + h * w, 0.0f);
      for (std::int64_t i = 0; i < ho; ++i) {
        float* dst = base + sh[static_cast<std::size_t>(i)] * w;
        const float* src = dy + (pl * ho + i) * wo;
        for (std::int64_t j = 0; j < wo; ++j) dst[sw[static_cast<std::size_t>(j)]] += src[j];
      }
    }
  });
}

}  // namespace ghm::cpu
