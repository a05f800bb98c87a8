// The geometry of RoIAlign (core/ops/roi_align.h), shared by the CPU and CUDA kernels so that
// both compute every sample point and bilinear weight with the same float operations in the same
// order (both are compiled without fused multiply-add). The formulas and their order are
// torchvision's (roi_align_kernel.cpp, v0.14); tests/core/test_fixtures.cpp compares the outputs
// and gradients with it.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/ops/elementwise_math.h"  // GHM_HD
#include "core/ops/roi_align.h"

namespace ghm::roi_math {

// One box on the feature map: where its bins start, their size, and the samples per bin.
struct RoiBox {
  float start_h, start_w, bin_h, bin_w;
  int grid_h, grid_w;  // samples per bin side, 0 for an empty box (aligned, negative size)
  float count;         // grid_h * grid_w, at least 1: the divisor of the mean
};

// ceil(v) samples, 0 for v <= 0 or NaN, at most kRoiAlignMaxGrid.
GHM_HD int adaptive_grid(float v) {
  if (!(v > 0.f)) return 0;
  if (v >= static_cast<float>(kRoiAlignMaxGrid)) return kRoiAlignMaxGrid;
  return static_cast<int>(ceilf(v));
}

// roi: [5] (batch index, x1, y1, x2, y2) in image coordinates.
GHM_HD RoiBox roi_box(const float* roi, float spatial_scale, int out_h, int out_w, int sampling_ratio, bool aligned) {
  const float offset = aligned ? 0.5f : 0.f;
  RoiBox b;
  b.start_w = roi[1] * spatial_scale - offset;
  b.start_h = roi[2] * spatial_scale - offset;
  float width = roi[3] * spatial_scale - offset - b.start_w;
  float height = roi[4] * spatial_scale - offset - b.start_h;
  if (!aligned) {  // std::max(size, 1) as torchvision: a NaN size stays NaN
    width = width < 1.f ? 1.f : width;
    height = height < 1.f ? 1.f : height;
  }
  b.bin_h = height / static_cast<float>(out_h);
  b.bin_w = width / static_cast<float>(out_w);
  b.grid_h = sampling_ratio > 0 ? sampling_ratio : adaptive_grid(height / static_cast<float>(out_h));
  b.grid_w = sampling_ratio > 0 ? sampling_ratio : adaptive_grid(width / static_cast<float>(out_w));
  const int n = b.grid_h * b.grid_w;
  b.count = static_cast<float>(n > 1 ? n : 1);
  return b;
}

// Sample iy of bin ph (rows; columns alike): start + ph * bin + (iy + 0.5) * bin / grid.
GHM_HD float sample_at(float start, float bin, int cell, int i, int grid) {
  return start + static_cast<float>(cell) * bin + (static_cast<float>(i) + 0.5f) * bin / static_cast<float>(grid);
}

// The four pixels around (y, x) and their weights; valid is false for a point more than one
// pixel outside the h x w map (or NaN), which contributes nothing.
struct Bilinear {
  bool valid;
  std::int32_t y_low, x_low, y_high, x_high;
  float w1, w2, w3, w4;  // (y_low, x_low), (y_low, x_high), (y_high, x_low), (y_high, x_high)
};

GHM_HD Bilinear bilinear(float y, float x, std::int64_t h, std::int64_t w) {
  Bilinear b{};
  if (!(y >= -1.f && y <= static_cast<float>(h) && x >= -1.f && x <= static_cast<float>(w))) return b;
  b.valid = true;
  if (y <= 0.f) y = 0.f;
  if (x <= 0.f) x = 0.f;
  b.y_low = static_cast<std::int32_t>(y);
  b.x_low = static_cast<std::int32_t>(x);
  if (b.y_low >= h - 1) {
    b.y_high = b.y_low = static_cast<std::int32_t>(h - 1);
    y = static_cast<float>(b.y_low);
  } else {
    b.y_high = b.y_low + 1;
  }
  if (b.x_low >= w - 1) {
    b.x_high = b.x_low = static_cast<std::int32_t>(w - 1);
    x = static_cast<float>(b.x_low);
  } else {
    b.x_high = b.x_low + 1;
  }
  const float ly = y - static_cast<float>(b.y_low), lx = x - static_cast<float>(b.x_low);
  const float hy = 1.f - ly, hx = 1.f - lx;
  b.w1 = hy * hx;
  b.w2 = hy * lx;
  b.w3 = ly * hx;
  b.w4 = ly * lx;
  return b;
}

// Calls f(sample) for every valid sample of bin (ph, pw) of box b, in row-major sample order.
template <class F>
GHM_HD void for_each_sample(const RoiBox& b, int ph, int pw, std::int64_t h, std::int64_t w, F&& f) {
  for (int iy = 0; iy < b.grid_h; ++iy) {
    const float y = sample_at(b.start_h, b.bin_h, ph, iy, b.grid_h);
    for (int ix = 0; ix < b.grid_w; ++ix) {
      const Bilinear s = bilinear(y, sample_at(b.start_w, b.bin_w, pw, ix, b.grid_w), h, w);
      if (s.valid) f(s);
    }
  }
}

// The batch index of a box, or -1 when it is not a whole number in [0, n).
GHM_HD std::int64_t roi_batch(const float* roi, std::int64_t n) {
  const float b = roi[0];
  if (!(b >= 0.f && b < static_cast<float>(n)) || b != floorf(b)) return -1;
  return static_cast<std::int64_t>(b);
}

}  // namespace ghm::roi_math
