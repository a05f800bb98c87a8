// 2-D convolution on the CPU as im2col + GEMM.
//
// For one image and one group g (Cg = C/G input channels, Og = O/G outputs, K = Cg*KH*KW):
//
//   col[K, HO*WO]      col[(c*KH + i)*KW + j, oh*WO + ow] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 outside)
//   y_g  = W_g col                 [Og, K] x [K, HO*WO]              forward
//   dcol = W_g^T dy_g              [K, Og] x [Og, HO*WO], then col2im adds dcol back into dx
//   dW_g += dy_g col^T             [Og, HO*WO] x [HO*WO, K]
//
// A 1x1 convolution with stride 1 and no padding has col == x, so it skips im2col/col2im. The
// col buffer is a per-thread workspace that grows to the largest layer and is then reused. GEMMs
// are multi-threaded inside Eigen; im2col/col2im are split over channels.
#include "core/cpu/conv_cpu.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/check.h"
#include "core/cpu/gemm.h"
#include "core/cpu/parallel.h"

namespace ghm::cpu {

const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::Forward: return "forward";
    case ConvPass::BackwardData: return "backward-data";
    case ConvPass::BackwardWeight: return "backward-weight";
  }
  return "unknown pass";
}

std::string describe(const ConvGeometry& g) {
  const Conv2dParams& p = g.p;
  return str_cat("input [", g.n, ", ", g.c, ", ", g.h, ", ", g.w, "], weight [", g.o, ", ", g.c / p.groups, ", ", g.kh,
                 ", ", g.kw, "], output [", g.n, ", ", g.o, ", ", g.ho, ", ", g.wo, "], stride ", p.stride_h, "x",
                 p.stride_w, ", padding ", p.pad_h, "x", p.pad_w, ", dilation ", p.dilation_h, "x", p.dilation_w,
                 ", groups ", p.groups);
}

namespace {

// Grows to the largest request and keeps it: no allocation per call once warm.
float* workspace(std::size_t floats) {
  thread_local std::unique_ptr<float[]> buffer;
  thread_local std::size_t capacity = 0;
  if (floats > capacity) {
    buffer.reset(new float[floats]);
    capacity = floats;
  }
  return buffer.get();
}

bool is_pointwise(const ConvGeometry& g) {
  const Conv2dParams& p = g.p;
  return g.kh == 1 && g.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
}

// col[(c*KH + i)*KW + j, oh*WO + ow] for channels [0, cg) of one image x: [cg, H, W].
void im2col(const ConvGeometry& g, std::int64_t cg, const float* x, float* col) {
  const Conv2dParams& p = g.p;
  const std::int64_t hw_out = g.ho * g.wo;
  parallel_for(cg * g.kh * g.kw, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(hw_out, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t row = begin; row < end; ++row) {
                   const std::int64_t j = row % g.kw, i = (row / g.kw) % g.kh, c = row / (g.kw * g.kh);
                   const float* src = x + c * g.h * g.w;
                   float* dst = col + row * hw_out;
                   for (std::int64_t oh = 0; oh < g.ho; ++oh) {
                     const std::int64_t ih = oh * p.stride_h - p.pad_h + i * p.dilation_h;
                     float* out = dst + oh * g.wo;
                     if (ih < 0 || ih >= g.h) {
                       std::fill(out, out + g.wo, 0.0f);
                       continue;
                     }
                     const float* in = src + ih * g.w;
                     const std::int64_t off = j * p.dilation_w - p.pad_w;
                     for (std::int64_t ow = 0; ow < g.wo; ++ow) {
                       const std::int64_t iw = ow * p.stride_w + off;
                       out[ow] = (iw >= 0 && iw < g.w) ? in[iw] : 0.0f;
                     }
                   }
                 }
               });
}

// dx[c] += the col rows of channel c, scattered back to their pixels. Split over channels, so no
// two threads write the same pixel.       col: [cg*KH*KW, HO*WO], dx: [cg, H, W] (zeroed by caller)
void col2im(const ConvGeometry& g, std::int64_t cg, const float* col, float* dx) {
  const Conv2dParams& p = g.p;
  const std::int64_t hw_out = g.ho * g.wo;
  parallel_for(cg, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(hw_out * g.kh * g.kw, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t c = begin; c < end; ++c) {
                   float* dst = dx + c * g.h * g.w;
                   for (std::int64_t i = 0; i < g.kh; ++i)
                     for (std::int64_t j = 0; j < g.kw; ++j) {
                       const float* src = col + ((c * g.kh + i) * g.kw + j) * hw_out;
                       const std::int64_t off = j * p.dilation_w - p.pad_w;
                       for (std::int64_t oh = 0; oh < g.ho; ++oh) {
                         const std::int64_t ih = oh * p.stride_h - p.pad_h + i * p.dilation_h;
                         if (ih < 0 || ih >= g.h) continue;
                         float* row = dst + ih * g.w;
                         const float* in = src + oh * g.wo;
                         for (std::int64_t ow = 0; ow < g.wo; ++ow) {
                           const std::int64_t iw = ow * p.stride_w + off;
                           if (iw >= 0 && iw < g.w) row[iw] += in[ow];
                         }
                       }
                     }
                 }
               });
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y) {
  const std::int64_t G = g.p.groups, cg = g.c / G, og = g.o / G, k = cg * g.kh * g.kw, hw_out = g.ho * g.wo;
  const bool pointwise = is_pointwise(g);
  float* col = pointwise ? nullptr : workspace(static_cast<std::size_t>(k * hw_out));
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t grp = 0; grp < G; ++grp) {
      const float* xg = x + (n * g.c + grp * cg) * g.h * g.w;
      if (!pointwise) im2col(g, cg, xg, col);
      float* yg = y + (n * g.o + grp * og) * hw_out;
      if (bias != nullptr) {
        parallel_for(og, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(hw_out, 1)),
                     [&](std::int64_t b, std::int64_t e) {
                       for (std::int64_t o = b; o < e; ++o) std::fill_n(yg + o * hw_out, hw_out, bias[grp * og + o]);
                     });
      }
      gemm(Trans::No, Trans::No, og, hw_out, k, 1.0f, weight + grp * og * k, k, pointwise ? xg : col, hw_out,
           bias != nullptr ? 1.0f : 0.0f, yg, hw_out);
    }
}

void conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* weight, float* dx) {
  const std::int64_t G = g.p.groups, cg = g.c / G, og = g.o / G, k = cg * g.kh * g.kw, hw_out = g.ho * g.wo;
  const bool pointwise = is_pointwise(g);
  float* col = pointwise ? nullptr : workspace(static_cast<std::size_t>(k * hw_out));
  const std::int64_t dx_count = g.n * g.c * g.h * g.w;  // an empty dx may have no storage at all
  if (!pointwise && dx_count > 0) std::memset(dx, 0, static_cast<std::size_t>(dx_count) * sizeof(float));
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t grp = 0; grp < G; ++grp) {
      const float* dyg = dy + (n * g.o + grp * og) * hw_out;
      float* dxg = dx + (n * g.c + grp * cg) * g.h * g.w;
      gemm(Trans::Yes, Trans::No, k, hw_out, og, 1.0f, weight + grp * og * k, k, dyg, hw_out, 0.0f,
           pointwise ? dxg : col, hw_out);
      if (!pointwise) col2im(g, cg, col, dxg);
    }
}

void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight) {
  const std::int64_t G = g.p.groups, cg = g.c / G, og = g.o / G, k = cg * g.kh * g.kw, hw_out = g.ho * g.wo;
  const bool pointwise = is_pointwise(g);
  if (g.n == 0) std::fill_n(dweight, g.o * k, 0.0f);
  float* col = pointwise ? nullptr : workspace(static_cast<std::size_t>(k * hw_out));
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t grp = 0; grp < G; ++grp) {
      const float* xg = x + (n * g.c + grp * cg) * g.h * g.w;
      if (!pointwise) im2col(g, cg, xg, col);
      gemm(Trans::No, Trans::Yes, og, k, hw_out, 1.0f, dy + (n * g.o + grp * og) * hw_out, hw_out,
           pointwise ? xg : col, hw_out, n == 0 ? 0.0f : 1.0f, dweight + grp * og * k, k);
    }
}

void conv2d_backward_bias(const ConvGeometry& g, const float* dy, float* dbias) {
  const std::int64_t hw_out = g.ho * g.wo;
  parallel_for(g.o, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t o = b; o < e; ++o) {
        double acc = 0;
        for (std::int64_t n = 0; n < g.n; ++n) {
          const float* row = dy + (n * g.o + o) * hw_out;
#pragma omp simd reduction(+ : acc)
          for (std::int64_t i = 0; i < hw_out; ++i) acc += row[i];
        }
        dbias[o] = static_cast<float>(acc);
      }
    });
}

}  // namespace ghm::cpu
