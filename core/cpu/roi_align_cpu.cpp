// RoIAlign on the CPU. The forward splits over boxes: the samples of a box's bins are computed once
// (core/ops/roi_align_math.h) and read for every channel. The backward splits over channels, so
// that every thread adds into its own planes of dx, in the order torchvision adds (box, bin,
// sample): the result does not depend on the thread count.
#include "core/cpu/roi_align_cpu.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/parallel.h"
#include "core/ops/roi_align_math.h"

namespace ghm::cpu {
namespace {

// Every valid sample of every bin of one box, computed once and read for each channel: bin j's
// samples are samples[offsets[j] .. offsets[j + 1]), bins row-major, samples row-major within.
struct BoxSamples {
  std::vector<roi_math::Bilinear> samples;
  std::vector<std::int64_t> offsets;

  void compute(const roi_math::RoiBox& b, const RoiAlignParams& p, std::int64_t h, std::int64_t w) {
    samples.clear();
    offsets.assign(1, 0);
    for (int ph = 0; ph < p.out_h; ++ph)
      for (int pw = 0; pw < p.out_w; ++pw) {
        roi_math::for_each_sample(b, ph, pw, h, w, [&](const roi_math::Bilinear& s) { samples.push_back(s); });
        offsets.push_back(static_cast<std::int64_t>(samples.size()));
      }
  }
};

roi_math::RoiBox box_of(const float* roi, const RoiAlignParams& p) {
  return roi_math::roi_box(roi, p.spatial_scale, p.out_h, p.out_w, p.sampling_ratio, p.aligned);
}

}  // namespace

// Channels outside, bins inside: one channel's bins read one small region of its plane.
void roi_align_forward(const float* x, const float* rois, float* y, std::int64_t n, std::int64_t c, std::int64_t h,
                       std::int64_t w, std::int64_t k, const RoiAlignParams& p) {
  const std::int64_t cells = std::int64_t{p.out_h} * p.out_w, plane = h * w;
  parallel_for(k, 1, [&](std::int64_t k0, std::int64_t k1) {
    BoxSamples bs;
    for (std::int64_t r = k0; r < k1; ++r) {
      const float* roi = rois + r * 5;
      const std::int64_t b = roi_math::roi_batch(roi, n);
      const roi_math::RoiBox box = box_of(roi, p);
      float* out = y + r * c * cells;
      if (b < 0) {  // not a batch index (the op checks them before): zeros, as the CUDA twin
        std::fill(out, out + c * cells, 0.f);
        continue;
      }
      bs.compute(box, p, h, w);
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const float* src = x + (b * c + ch) * plane;
        for (std::int64_t j = 0; j < cells; ++j) {
          float sum = 0.f;
          for (std::int64_t i = bs.offsets[j]; i < bs.offsets[j + 1]; ++i) {
            const roi_math::Bilinear& s = bs.samples[static_cast<std::size_t>(i)];
            sum += s.w1 * src[s.y_low * w + s.x_low] + s.w2 * src[s.y_low * w + s.x_high] +
                   s.w3 * src[s.y_high * w + s.x_low] + s.w4 * src[s.y_high * w + s.x_high];
          }
          out[ch * cells + j] = sum / box.count;
        }
      }
    }
  });
}

// Each thread owns a range of channels and visits every box; within a box, channels outside and
// bins inside. Every dx element still receives its terms in torchvision's (box, bin, sample) order.
void roi_align_backward(const float* dy, const float* rois, float* dx, std::int64_t n, std::int64_t c, std::int64_t h,
                        std::int64_t w, std::int64_t k, const RoiAlignParams& p) {
  const std::int64_t cells = std::int64_t{p.out_h} * p.out_w, plane = h * w;
  std::memset(dx, 0, sizeof(float) * static_cast<std::size_t>(n * c * plane));
  parallel_for(c, 1, [&](std::int64_t c0, std::int64_t c1) {
    BoxSamples bs;
    for (std::int64_t r = 0; r < k; ++r) {
      const float* roi = rois + r * 5;
      const std::int64_t b = roi_math::roi_batch(roi, n);
      if (b < 0) continue;
      const roi_math::RoiBox box = box_of(roi, p);
      bs.compute(box, p, h, w);
      for (std::int64_t ch = c0; ch < c1; ++ch) {
        float* dst = dx + (b * c + ch) * plane;
        const float* g_row = dy + (r * c + ch) * cells;
        for (std::int64_t j = 0; j < cells; ++j) {
          const float g = g_row[j];  // g * w / count, torchvision's and the CUDA twin's rounding
          for (std::int64_t i = bs.offsets[j]; i < bs.offsets[j + 1]; ++i) {
            const roi_math::Bilinear& s = bs.samples[static_cast<std::size_t>(i)];
            dst[s.y_low * w + s.x_low] += g * s.w1 / box.count;
            dst[s.y_low * w + s.x_high] += g * s.w2 / box.count;
            dst[s.y_high * w + s.x_low] += g * s.w3 / box.count;
            dst[s.y_high * w + s.x_high] += g * s.w4 / box.count;
          }
        }
      }
    }
  });
}

}  // namespace ghm::cpu
