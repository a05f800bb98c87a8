// DeltaXYWHBBoxCoder: boxes <-> regression deltas relative to anchors, as mmdetection v2's
// `bbox2delta` / `delta2bbox` (mmdet/core/bbox/coder/delta_xywh_bbox_coder.py).
//
// With anchor p and box g, both (x1, y1, x2, y2), no "+1":
//
//   px = (p.x1 + p.x2) * 0.5     py = (p.y1 + p.y2) * 0.5     pw = p.x2 - p.x1     ph = p.y2 - p.y1
//   (gx, gy, gw, gh) likewise from g
//
//   encode:  dx = (gx - px) / pw      dy = (gy - py) / ph      dw = log(gw / pw)    dh = log(gh / ph)
//            delta = (d - mean) / std                                    (per coordinate)
//   decode:  d = delta * std + mean;  dw, dh clamped to [-R, R], R = |log(16 / 1000)| = 4.1351666
//            gx = px + pw * dx   gy = py + ph * dy   gw = pw * exp(dw)   gh = ph * exp(dh)
//            box = (gx - gw * 0.5, gy - gh * 0.5, gx + gw * 0.5, gy + gh * 0.5)
//            then, when a clip size (H, W) is given, x clamped to [0, W] and y to [0, H]
//
// The RetinaNet/GHM config uses mean 0 and std 1. All arithmetic is float32 in the reference's
// order; exp and log may differ from PyTorch's by an ulp. Nothing guards degenerate input, as in
// the reference: an anchor of zero width gives dx = +-inf or NaN, a box of zero width gives
// dw = -inf. Decoding a zero-size anchor gives a zero-size box at the anchor's centre.
//
// Layout (letters used in this file): anchors [N, 4], boxes [N, 4], deltas [N, 4] (dx, dy, dw, dh),
// row-major float32, row n of each belonging together. The CPU loops run over N in contiguous
// chunks on OpenMP threads (each row written once: deterministic).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>

#include "core/ops/elementwise_math.h"  // GHM_HD
#include "core/tensor.h"
#include "detection/iou.h"  // ImageSize

namespace ghm::detection {

struct BoxCoderParams {
  std::array<float, 4> means{0.f, 0.f, 0.f, 0.f};
  std::array<float, 4> stds{1.f, 1.f, 1.f, 1.f};
};

// |log(16 / 1000)| in double, rounded to float32 (the reference clamps a float32 tensor with it).
inline const float kMaxLogRatio = static_cast<float>(std::abs(std::log(16.0 / 1000.0)));

// ---- per-box math shared by the CPU and CUDA kernels ----------------------------------------------
GHM_HD void encode_box_delta(const float* p,      // [4] anchor
                             const float* g,      // [4] box
                             const float* means,  // [4]
                             const float* stds,   // [4]
                             float* delta) {      // [4] out
  const float px = (p[0] + p[2]) * 0.5f, py = (p[1] + p[3]) * 0.5f;
  const float pw = p[2] - p[0], ph = p[3] - p[1];
  const float gx = (g[0] + g[2]) * 0.5f, gy = (g[1] + g[3]) * 0.5f;
  const float gw = g[2] - g[0], gh = g[3] - g[1];
  const float d[4] = {(gx - px) / pw, (gy - py) / ph, logf(gw / pw), logf(gh / ph)};
  for (int k = 0; k < 4; ++k) delta[k] = (d[k] - means[k]) / stds[k];
}

// clip_h, clip_w: the clip size, used when `clip` is true.
GHM_HD void decode_box_delta(const float* p,      // [4] anchor
                             const float* delta,  // [4]
                             const float* means,  // [4]
                             const float* stds,   // [4]
                             float max_log_ratio, bool clip, float clip_h, float clip_w,
                             float* box) {  // [4] out
  const float dx = delta[0] * stds[0] + means[0], dy = delta[1] * stds[1] + means[1];
  float dw = delta[2] * stds[2] + means[2], dh = delta[3] * stds[3] + means[3];
  dw = dw < -max_log_ratio ? -max_log_ratio : (dw > max_log_ratio ? max_log_ratio : dw);
  dh = dh < -max_log_ratio ? -max_log_ratio : (dh > max_log_ratio ? max_log_ratio : dh);
  const float px = (p[0] + p[2]) * 0.5f, py = (p[1] + p[3]) * 0.5f;
  const float pw = p[2] - p[0], ph = p[3] - p[1];
  const float gx = px + pw * dx, gy = py + ph * dy;
  const float gw = pw * expf(dw), gh = ph * expf(dh);
  float b[4] = {gx - gw * 0.5f, gy - gh * 0.5f, gx + gw * 0.5f, gy + gh * 0.5f};
  if (clip) {
    const float limit[4] = {clip_w, clip_h, clip_w, clip_h};
    // clamp(min=0, max=limit) as torch does it: NaN stays NaN.
    for (int k = 0; k < 4; ++k) b[k] = b[k] < 0.f ? 0.f : (b[k] > limit[k] ? limit[k] : b[k]);
  }
  for (int k = 0; k < 4; ++k) box[k] = b[k];
}

// ---- Tensor API ----------------------------------------------------------------------------------
// Throws (naming `op`) unless every std is finite and non-zero and every mean finite.
void check_box_coder_params(const BoxCoderParams& params, const char* op);

// anchors [N, 4], boxes [N, 4] f32 (CPU or one GPU) -> deltas [N, 4] on their device. N may be 0.
Tensor encode_box_deltas(const Tensor& anchors, const Tensor& boxes, const BoxCoderParams& params = {});

// anchors [N, 4], deltas [N, 4] f32 (CPU or one GPU) -> boxes [N, 4] on their device, clipped to
// `clip_to` when given.
Tensor decode_box_deltas(const Tensor& anchors, const Tensor& deltas, std::optional<ImageSize> clip_to = std::nullopt,
                         const BoxCoderParams& params = {});

namespace cpu {
// The kernels behind the Tensor API (no validation).
void encode_box_deltas(const float* anchors,  // [N, 4]
                       const float* boxes,    // [N, 4]
                       std::int64_t n, const BoxCoderParams& params,
                       float* deltas);        // [N, 4]
void decode_box_deltas(const float* anchors,  // [N, 4]
                       const float* deltas,   // [N, 4]
                       std::int64_t n, std::optional<ImageSize> clip_to, const BoxCoderParams& params,
                       float* boxes);  // [N, 4]
}  // namespace cpu

}  // namespace ghm::detection
