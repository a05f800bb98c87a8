// Batch-norm kernels on the CPU. Per-channel statistics are split over channels (each thread
// owns whole channels, so sums are computed in one fixed order); per-element passes are split
// over (image, channel) planes.
#include "core/cpu/norm_cpu.h"

#include <algorithm>

#include "core/cpu/parallel.h"

namespace ghm::cpu {
namespace {
std::int64_t plane_grain(std::int64_t s) { return std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(s, 1)); }
}  // namespace

void channel_mean_var(const float* x, std::int64_t n, std::int64_t c, std::int64_t s, float* mean, float* var) {
  const double m = static_cast<double>(n * s);
  parallel_for(c, plane_grain(n * s), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t ch = b; ch < e; ++ch) {
      double acc = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const float* p = x + (i * c + ch) * s;
#pragma omp simd reduction(+ : acc)
        for (std::int64_t k = 0; k < s; ++k) acc += p[k];
      }
      const double mu = acc / m;
      double sq = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const float* p = x + (i * c + ch) * s;
#pragma omp simd reduction(+ : sq)
        for (std::int64_t k = 0; k < s; ++k) sq += (p[k] - mu) * (p[k] - mu);
      }
      mean[ch] = static_cast<float>(mu);
      var[ch] = static_cast<float>(sq / m);
    }
  });
}

void channel_affine(const float* x, const float* scale, const float* shift, float* y, std::int64_t n, std::int64_t c,
                    std::int64_t s) {
  parallel_for(n * c, plane_grain(s), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      const std::int64_t ch = plane % c;
      const float a = scale[ch], sh = shift[ch];
      const float* src = x + plane * s;
      float* dst = y + plane * s;
#pragma omp simd
      for (std::int64_t k = 0; k < s; ++k) dst[k] = src[k] * a + sh;
    }
  });
}

void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* inv_std, std::int64_t n,
                       std::int64_t c, std::int64_t s, float* sum_dy, float* sum_dy_xhat) {
  parallel_for(c, plane_grain(n * s), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t ch = b; ch < e; ++ch) {
      double a = 0, bsum = 0;
      const float mu = mean[ch];
      for (std::int64_t i = 0; i < n; ++i) {
        const float* g = dy + (i * c + ch) * s;
        const float* p = x + (i * c + ch) * s;
#pragma omp simd reduction(+ : a, bsum)
        for (std::int64_t k = 0; k < s; ++k) {
          a += g[k];
          bsum += g[k] * (p[k] - mu);
        }
      }
      sum_dy[ch] = static_cast<float>(a);
      sum_dy_xhat[ch] = static_cast<float>(bsum * inv_std[ch]);
    }
  });
}

void batch_norm_train_backward_input(const float* dy, const float* x, const float* mean, const float* inv_std,
                                     const float* gamma, const float* sum_dy, const float* sum_dy_xhat, float* dx,
                                     std::int64_t n, std::int64_t c, std::int64_t s) {
  const float m = static_cast<float>(n * s);
  parallel_for(n * c, plane_grain(s), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      const std::int64_t ch = plane % c;
      const float k = (gamma ? gamma[ch] : 1.0f) * inv_std[ch] / m;
      const float mu = mean[ch], is = inv_std[ch], sd = sum_dy[ch], sdx = sum_dy_xhat[ch];
      const float* g = dy + plane * s;
      const float* p = x + plane * s;
      float* out = dx + plane * s;
#pragma omp simd
      for (std::int64_t i = 0; i < s; ++i) out[i] = k * (m * g[i] - sd - (p[i] - mu) * is * sdx);
    }
  });
}

}  // namespace ghm::cpu
