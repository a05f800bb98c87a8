// DeltaXYWHBBoxCoder on the CPU, and the dispatch of CUDA tensors to detection/cuda/box_coder_cuda.h;
// the formulas are in box_coder.h.
#include "detection/box_coder.h"

#include "core/cpu/parallel.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "detection/cuda/box_coder_cuda.h"
#include "detection/cuda/iou_cuda.h"
#endif

namespace ghm::detection {
namespace {
constexpr std::int64_t kRowGrain = 8192;

// Checks `boxes` ([*, 4] f32) as check_boxes does, but on `first`'s device when that is a GPU.
void check_boxes_with(const Tensor& boxes, const Tensor& first, const char* op, const char* arg) {
#if GHM_WITH_CUDA
  if (first.defined() && first.device().is_cuda()) {
    cuda::check_boxes_on(boxes, first.device(), op, arg);
    return;
  }
#endif
  check_boxes(boxes, op, arg);
}

// anchors and `rows`: [N, 4] f32 each, on one device (the anchors' decides).
void check_rows(const Tensor& anchors, const Tensor& rows, const char* op, const char* rows_name) {
  check_boxes_with(anchors, anchors, op, "anchors");
  check_boxes_with(rows, anchors, op, rows_name);
  GHM_CHECK(anchors.size(0) == rows.size(0), op, ": anchors ", anchors.shape(), " and ", rows_name, " ", rows.shape(),
            " must have the same number of rows");
}
}  // namespace

void check_box_coder_params(const BoxCoderParams& params, const char* op) {
  for (int k = 0; k < 4; ++k)
    GHM_CHECK(params.stds[k] != 0.f && std::isfinite(params.stds[k]) && std::isfinite(params.means[k]), op,
              ": stds must be finite and non-zero and means finite, got std[", k, "] = ", params.stds[k], ", mean[", k,
              "] = ", params.means[k]);
}

Tensor encode_box_deltas(const Tensor& anchors, const Tensor& boxes, const BoxCoderParams& params) {
  check_rows(anchors, boxes, "encode_box_deltas", "boxes");
  check_box_coder_params(params, "encode_box_deltas");
#if GHM_WITH_CUDA
  if (anchors.device().is_cuda()) {
    const ghm::cuda::DeviceGuard guard(anchors.device().index);
    Tensor deltas = Tensor::empty(anchors.shape(), DType::F32, anchors.device());
    cuda::encode_box_deltas(anchors.device_data<float>(), boxes.device_data<float>(), anchors.size(0), params,
                            deltas.device_data<float>());
    return deltas;
  }
#endif
  Tensor deltas = Tensor::empty(anchors.shape());
  cpu::encode_box_deltas(anchors.data<float>(), boxes.data<float>(), anchors.size(0), params, deltas.data<float>());
  return deltas;
}

Tensor decode_box_deltas(const Tensor& anchors, const Tensor& deltas, std::optional<ImageSize> clip_to,
                         const BoxCoderParams& params) {
  check_rows(anchors, deltas, "decode_box_deltas", "deltas");
  if (clip_to)
    GHM_CHECK(clip_to->height >= 0 && clip_to->width >= 0, "decode_box_deltas: clip size must be non-negative, got ",
              clip_to->height, "x", clip_to->width);
  check_box_coder_params(params, "decode_box_deltas");
#if GHM_WITH_CUDA
  if (anchors.device().is_cuda()) {
    const ghm::cuda::DeviceGuard guard(anchors.device().index);
    Tensor boxes = Tensor::empty(anchors.shape(), DType::F32, anchors.device());
    cuda::decode_box_deltas(anchors.device_data<float>(), deltas.device_data<float>(), anchors.size(0), clip_to,
                            params, boxes.device_data<float>());
    return boxes;
  }
#endif
  Tensor boxes = Tensor::empty(anchors.shape());
  cpu::decode_box_deltas(anchors.data<float>(), deltas.data<float>(), anchors.size(0), clip_to, params,
                         boxes.data<float>());
  return boxes;
}

namespace cpu {

void encode_box_deltas(const float* anchors, const float* boxes, std::int64_t n, const BoxCoderParams& params,
                       float* deltas) {
  ghm::cpu::parallel_for(n, kRowGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      encode_box_delta(anchors + 4 * i, boxes + 4 * i, params.means.data(), params.stds.data(), deltas + 4 * i);
  });
}

void decode_box_deltas(const float* anchors, const float* deltas, std::int64_t n, std::optional<ImageSize> clip_to,
                       const BoxCoderParams& params, float* boxes) {
  const bool clip = clip_to.has_value();
  const float clip_h = clip ? static_cast<float>(clip_to->height) : 0.f;
  const float clip_w = clip ? static_cast<float>(clip_to->width) : 0.f;
  ghm::cpu::parallel_for(n, kRowGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      decode_box_delta(anchors + 4 * i, deltas + 4 * i, params.means.data(), params.stds.data(), kMaxLogRatio, clip,
                       clip_h, clip_w, boxes + 4 * i);
  });
}

}  // namespace cpu
}  // namespace ghm::detection
