// Batch-norm kernels on the CPU. Per-channel statistics are split over channels (each thread
// owns whole channels, so sums are computed in one fixed order); per-element passes are split
// over (image, channel) planes.
#include "core/cpu/norm_cpu.h"

#include <algorithm>
#include <cmath>

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

void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* inv_std,
                        std::int64_t n, std::int64_t c, std::int64_t s, std::int64_t groups, float eps) {
  const std::int64_t cg = c / groups, m = cg * s;
  parallel_for(n * groups, plane_grain(m), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t ng = b; ng < e; ++ng) {
      const float* src = x + ng * m;
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t i = 0; i < m; ++i) acc += src[i];
      const double mu = acc / static_cast<double>(m);
      double sq = 0;
#pragma omp simd reduction(+ : sq)
      for (std::int64_t i = 0; i < m; ++i) sq += (src[i] - mu) * (src[i] - mu);
      const float inv = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(m) + eps));
      mean[ng] = static_cast<float>(mu);
      inv_std[ng] = inv;
      const std::int64_t c0 = (ng % groups) * cg;
      for (std::int64_t k = 0; k < cg; ++k) {
        const float a = (gamma ? gamma[c0 + k] : 1.0f) * inv, sh = (beta ? beta[c0 + k] : 0.0f) - mean[ng] * a;
        const float* xs = src + k * s;
        float* ys = y + ng * m + k * s;
#pragma omp simd
        for (std::int64_t i = 0; i < s; ++i) ys[i] = xs[i] * a + sh;
      }
    }
  });
}

void group_norm_backward(const float* dy, const float* x, const float* gamma, const float* mean, const float* inv_std,
                         float* dx, float* dgamma, float* dbeta, std::int64_t n, std::int64_t c, std::int64_t s,
                         std::int64_t groups) {
  const std::int64_t cg = c / groups, m = cg * s;
  if (dx) {
    parallel_for(n * groups, plane_grain(m), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t ng = b; ng < e; ++ng) {
        const std::int64_t c0 = (ng % groups) * cg, base = ng * m;
        const float mu = mean[ng], inv = inv_std[ng];
        double s1 = 0, s2 = 0;
        for (std::int64_t k = 0; k < cg; ++k) {
          const float gk = gamma ? gamma[c0 + k] : 1.0f;
#pragma omp simd reduction(+ : s1, s2)
          for (std::int64_t i = 0; i < s; ++i) {
            const float g = dy[base + k * s + i] * gk;
            s1 += g;
            s2 += g * (x[base + k * s + i] - mu) * inv;
          }
        }
        const float a = static_cast<float>(s1), bsum = static_cast<float>(s2), mf = static_cast<float>(m);
        for (std::int64_t k = 0; k < cg; ++k) {
          const float gk = gamma ? gamma[c0 + k] : 1.0f;
#pragma omp simd
          for (std::int64_t i = 0; i < s; ++i) {
            const std::int64_t j = base + k * s + i;
            dx[j] = inv / mf * (mf * dy[j] * gk - a - (x[j] - mu) * inv * bsum);
          }
        }
      }
    });
  }
  if (dgamma || dbeta) {
    parallel_for(c, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t ch = b; ch < e; ++ch) {
        double sg = 0, sb = 0;
        for (std::int64_t img = 0; img < n; ++img) {
          const std::int64_t ng = img * groups + ch / cg;
          const float mu = mean[ng], inv = inv_std[ng];
          const float* d = dy + (img * c + ch) * s;
          const float* xs = x + (img * c + ch) * s;
#pragma omp simd reduction(+ : sg, sb)
          for (std::int64_t i = 0; i < s; ++i) {
            sg += d[i] * (xs[i] - mu) * inv;
            sb += d[i];
          }
        }
        if (dgamma) dgamma[ch] = static_cast<float>(sg);
        if (dbeta) dbeta[ch] = static_cast<float>(sb);
      }
    });
  }
}

}  // namespace ghm::cpu
