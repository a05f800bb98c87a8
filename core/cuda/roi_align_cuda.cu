// RoIAlign on CUDA, forward and backward, bit for bit equal to the CPU twins
// (core/cpu/roi_align_cpu.cpp); the geometry is core/ops/roi_align_math.h, compiled here with
// --fmad=false as the CPU file is with -ffp-contract=off.
//
//   forward    one thread per output (k, c, ph, pw): the bin's samples in row-major order,
//              sum += w1 x[y_low, x_low] + w2 x[y_low, x_high] + w3 x[y_high, x_low] + w4 x[y_high, x_high],
//              y = sum / count
//   backward   one thread per input plane (b, c), zeroed first: for every box of image b in order,
//              every bin, every sample, dx[pixel] += dy * weight / count for its four pixels --
//              the CPU's order, so no atomics and the same bits on every run. The parallelism is
//              only N * C threads (512 for two images of 256 channels, a few blocks), each adding
//              K * cells * samples * 4 terms in sequence: not measured on a GPU yet, and likely
//              tens of milliseconds per level at training sizes. A deterministic faster form would
//              gather per pixel tile or reduce per-box-chunk partial planes in a fixed order.
#include "core/cuda/roi_align_cuda.h"

#include <cuda_runtime.h>

#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"
#include "core/ops/roi_align_math.h"

namespace ghm::cuda {
namespace {

struct Geometry {
  int out_h, out_w, sampling_ratio;
  float spatial_scale;
  bool aligned;
};

Geometry geometry_of(const RoiAlignParams& p) {
  return {p.out_h, p.out_w, p.sampling_ratio, p.spatial_scale, p.aligned};
}

__device__ roi_math::RoiBox box_of(const float* roi, const Geometry& g) {
  return roi_math::roi_box(roi, g.spatial_scale, g.out_h, g.out_w, g.sampling_ratio, g.aligned);
}

__global__ void roi_align_forward_kernel(const float* __restrict__ x,     // [N, C, H, W]
                                         const float* __restrict__ rois,  // [K, 5]
                                         float* __restrict__ y,           // [K, C, PH, PW]
                                         std::int64_t total, std::int64_t n, std::int64_t c, std::int64_t h,
                                         std::int64_t w, Geometry g) {
  for (std::int64_t t = first_index(); t < total; t += grid_stride()) {
    const int pw = static_cast<int>(t % g.out_w), ph = static_cast<int>((t / g.out_w) % g.out_h);
    const std::int64_t ch = (t / (std::int64_t{g.out_w} * g.out_h)) % c, r = t / (std::int64_t{g.out_w} * g.out_h * c);
    const float* roi = rois + r * 5;
    const std::int64_t b = roi_math::roi_batch(roi, n);
    if (b < 0) {
      y[t] = 0.f;
      continue;
    }
    const roi_math::RoiBox box = box_of(roi, g);
    const float* src = x + (b * c + ch) * h * w;
    float sum = 0.f;
    roi_math::for_each_sample(box, ph, pw, h, w, [&](const roi_math::Bilinear& s) {
      sum += s.w1 * src[s.y_low * w + s.x_low] + s.w2 * src[s.y_low * w + s.x_high] +
             s.w3 * src[s.y_high * w + s.x_low] + s.w4 * src[s.y_high * w + s.x_high];
    });
    y[t] = sum / box.count;
  }
}

__global__ void roi_align_backward_kernel(const float* __restrict__ dy,    // [K, C, PH, PW]
                                          const float* __restrict__ rois,  // [K, 5]
                                          float* __restrict__ dx,          // [N, C, H, W], zeroed
                                          std::int64_t planes, std::int64_t n, std::int64_t c, std::int64_t h,
                                          std::int64_t w, std::int64_t k, Geometry g) {
  const std::int64_t cells = std::int64_t{g.out_h} * g.out_w;
  for (std::int64_t t = first_index(); t < planes; t += grid_stride()) {
    const std::int64_t b = t / c, ch = t % c;
    float* dst = dx + t * h * w;
    for (std::int64_t r = 0; r < k; ++r) {
      const float* roi = rois + r * 5;
      if (roi_math::roi_batch(roi, n) != b) continue;
      const roi_math::RoiBox box = box_of(roi, g);
      for (int ph = 0; ph < g.out_h; ++ph)
        for (int pw = 0; pw < g.out_w; ++pw) {
          const float grad = dy[(r * c + ch) * cells + ph * g.out_w + pw];
          roi_math::for_each_sample(box, ph, pw, h, w, [&](const roi_math::Bilinear& s) {
            dst[s.y_low * w + s.x_low] += grad * s.w1 / box.count;
            dst[s.y_low * w + s.x_high] += grad * s.w2 / box.count;
            dst[s.y_high * w + s.x_low] += grad * s.w3 / box.count;
            dst[s.y_high * w + s.x_high] += grad * s.w4 / box.count;
          });
        }
    }
  }
}

}  // namespace

void roi_align_forward(const float* x, const float* rois, float* y, std::int64_t n, std::int64_t c, std::int64_t h,
                       std::int64_t w, std::int64_t k, const RoiAlignParams& p) {
  const std::int64_t total = k * c * p.out_h * p.out_w;
  if (total == 0) return;
  roi_align_forward_kernel<<<blocks_for(total), kThreads>>>(x, rois, y, total, n, c, h, w, geometry_of(p));
  GHM_CUDA_CHECK_LAUNCH();
}

void roi_align_backward(const float* dy, const float* rois, float* dx, std::int64_t n, std::int64_t c, std::int64_t h,
                        std::int64_t w, std::int64_t k, const RoiAlignParams& p) {
  const std::int64_t planes = n * c;
  if (planes == 0 || h * w == 0) return;
  GHM_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * static_cast<std::size_t>(planes * h * w)));
  roi_align_backward_kernel<<<blocks_for(planes), kThreads>>>(dy, rois, dx, planes, n, c, h, w, k, geometry_of(p));
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::cuda
