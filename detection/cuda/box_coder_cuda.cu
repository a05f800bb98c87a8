// DeltaXYWHBBoxCoder on CUDA (the formulas are in detection/box_coder.h):
//
//   encode:  delta = ((gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph)), then (d - mean) / std
//   decode:  d = delta * std + mean, dw and dh clamped to [-R, R];
//            box = (px + pw dx -+ pw e^dw / 2, py + ph dy -+ ph e^dh / 2), clipped when asked
//
// Layout: anchors, boxes, deltas [N, 4] row-major float32, row i of each belonging together.
// Launch: one thread per row in a grid-stride loop (launch.h); each row is written once by one
// thread: deterministic.
//
// Rounding: the per-box math is encode_box_delta / decode_box_delta from detection/box_coder.h,
// the very functions the CPU kernels call. This file is compiled with --fmad=false and the CPU
// file with -ffp-contract=off (detection/CMakeLists.txt), so + - * / round alike on both sides
// (px + pw * dx is two roundings everywhere). What remains is the math library: the device's
// logf (max 1 ulp) and expf (max 2 ulp) against glibc's (under 1 ulp), so dw, dh of an encode
// and the widths of a decode may differ from the CPU's in the last bits; dx, dy of an encode,
// and a decode whose dw = dh = 0 (expf(0) = 1 on both), are bit for bit the CPU's.
#include "detection/cuda/box_coder_cuda.h"

#include "detection/cuda/grid_stride_cuda.h"

namespace ghm::detection::cuda {
namespace {

// BoxCoderParams as plain arrays: a kernel argument (std::array's accessors are host-only).
struct CoderArrays {
  float means[4];
  float stds[4];
};

CoderArrays to_arrays(const BoxCoderParams& params) {
  CoderArrays c{};
  for (int k = 0; k < 4; ++k) {
    c.means[k] = params.means[static_cast<std::size_t>(k)];
    c.stds[k] = params.stds[static_cast<std::size_t>(k)];
  }
  return c;
}

__global__ void encode_kernel(const float* __restrict__ anchors,  // [N, 4]
                              const float* __restrict__ boxes,    // [N, 4]
                              std::int64_t n, CoderArrays c,
                              float* __restrict__ deltas) {  // [N, 4]
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    encode_box_delta(anchors + 4 * i, boxes + 4 * i, c.means, c.stds, deltas + 4 * i);
}

__global__ void decode_kernel(const float* __restrict__ anchors,  // [N, 4]
                              const float* __restrict__ deltas,   // [N, 4]
                              std::int64_t n, CoderArrays c, float max_log_ratio, bool clip, float clip_h,
                              float clip_w,
                              float* __restrict__ boxes) {  // [N, 4]
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    decode_box_delta(anchors + 4 * i, deltas + 4 * i, c.means, c.stds, max_log_ratio, clip, clip_h, clip_w,
                     boxes + 4 * i);
}

}  // namespace

void encode_box_deltas(const float* anchors, const float* boxes, std::int64_t n, const BoxCoderParams& params,
                       float* deltas) {
  if (n == 0) return;
  encode_kernel<<<blocks_for(n), kThreads>>>(anchors, boxes, n, to_arrays(params), deltas);
  GHM_CUDA_CHECK_LAUNCH();
}

void decode_box_deltas(const float* anchors, const float* deltas, std::int64_t n, std::optional<ImageSize> clip_to,
                       const BoxCoderParams& params, float* boxes) {
  if (n == 0) return;
  // The clip size and the clamp bound as the CPU kernel takes them (detection/box_coder.cpp).
  const bool clip = clip_to.has_value();
  const float clip_h = clip ? static_cast<float>(clip_to->height) : 0.f;
  const float clip_w = clip ? static_cast<float>(clip_to->width) : 0.f;
  decode_kernel<<<blocks_for(n), kThreads>>>(anchors, deltas, n, to_arrays(params), kMaxLogRatio, clip, clip_h,
                                             clip_w, boxes);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace ghm::detection::cuda
