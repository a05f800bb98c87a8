// Greedy and class-wise NMS on the CPU, and the dispatch of CUDA tensors to detection/cuda/nms_cuda.h;
// the rule is in nms.h.
#include "detection/nms.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "detection/iou.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "detection/cuda/iou_cuda.h"
#include "detection/cuda/nms_cuda.h"
#endif

namespace ghm::detection {
namespace {

// The op runs where `boxes` is; every other input must be there too.
bool runs_on_cuda(const Tensor& boxes) {
#if GHM_WITH_CUDA
  return boxes.defined() && boxes.device().is_cuda();
#else
  return false;
#endif
}

// On the CPU this also rejects NaN scores; on CUDA the kernels find them (reading the scores here
// would copy them to the host).
void check_nms_inputs(const Tensor& boxes, const Tensor& scores, float iou_threshold, const char* op) {
  const bool on_cuda = runs_on_cuda(boxes);
#if GHM_WITH_CUDA
  if (on_cuda) cuda::check_boxes_on(boxes, boxes.device(), op, "boxes");
#endif
  if (!on_cuda) check_boxes(boxes, op, "boxes");
  check_defined(scores, op, "scores");
  check_dtype(scores, DType::F32, op, "scores");
  if (on_cuda)
    GHM_CHECK(scores.device() == boxes.device(), op, ": scores are on ", scores.device(), " but boxes on ",
              boxes.device(), "; every input must be on one device");
  else
    GHM_CHECK(scores.device().is_cpu(), op, ": scores are on ", scores.device(), "; this op runs on the CPU");
  GHM_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), op, ": scores ", scores.shape(),
            " must be [N] for boxes ", boxes.shape());
  GHM_CHECK(!std::isnan(iou_threshold), op, ": iou_threshold is NaN");
  if (on_cuda) return;
  const float* s = scores.data<float>();
  for (std::int64_t i = 0; i < scores.size(0); ++i) GHM_CHECK(!std::isnan(s[i]), op, ": scores[", i, "] is NaN");
}

// Indices 0..n-1 by score descending, ties in index order.
std::vector<std::int64_t> score_order(const float* scores, std::int64_t n) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return scores[a] > scores[b]; });
  return order;
}

Tensor to_index_tensor(const std::vector<std::int64_t>& keep) {
  return Tensor::from_vector(keep, Shape{static_cast<std::int64_t>(keep.size())});
}

}  // namespace

Tensor nms(const Tensor& boxes, const Tensor& scores, float iou_threshold) {
  check_nms_inputs(boxes, scores, iou_threshold, "nms");
#if GHM_WITH_CUDA
  if (runs_on_cuda(boxes)) {
    const ghm::cuda::DeviceGuard guard(boxes.device().index);
    return cuda::nms(boxes.device_data<float>(), scores.device_data<float>(), boxes.size(0), iou_threshold,
                     boxes.device().index);
  }
#endif
  const std::int64_t n = boxes.size(0);
  const std::vector<std::int64_t> order = score_order(scores.data<float>(), n);
  std::vector<std::int64_t> keep;
  cpu::nms_ordered(boxes.data<float>(), order.data(), n, iou_threshold, keep);
  return to_index_tensor(keep);
}

Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& class_ids, float iou_threshold) {
  check_nms_inputs(boxes, scores, iou_threshold, "batched_nms");
  check_defined(class_ids, "batched_nms", "class_ids");
  GHM_CHECK(class_ids.dtype() == DType::I64 || class_ids.dtype() == DType::I32,
            "batched_nms: class_ids must be i64 or i32, got ", class_ids.dtype());
  GHM_CHECK(class_ids.dim() == 1 && class_ids.size(0) == boxes.size(0), "batched_nms: class_ids ", class_ids.shape(),
            " must be [N] for boxes ", boxes.shape());
#if GHM_WITH_CUDA
  if (runs_on_cuda(boxes)) {
    GHM_CHECK(class_ids.device() == boxes.device(), "batched_nms: class_ids are on ", class_ids.device(),
              " but boxes on ", boxes.device(), "; every input must be on one device");
    const ghm::cuda::DeviceGuard guard(boxes.device().index);
    const float* b = boxes.device_data<float>();
    const float* s = scores.device_data<float>();
    const int device = boxes.device().index;
    return class_ids.dtype() == DType::I64
               ? cuda::batched_nms(b, s, class_ids.device_data<std::int64_t>(), boxes.size(0), iou_threshold, device)
               : cuda::batched_nms(b, s, class_ids.device_data<std::int32_t>(), boxes.size(0), iou_threshold, device);
  }
#endif
  const std::int64_t n = boxes.size(0);
  const Tensor ids64 = class_ids.dtype() == DType::I64 ? class_ids : class_ids.to(DType::I64);
  const std::int64_t* cls = ids64.data<std::int64_t>();
  const float* score = scores.data<float>();

  // Score order, then grouped by class (stable: each class's run stays in score order).
  std::vector<std::int64_t> order = score_order(score, n);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return cls[a] < cls[b]; });
  std::vector<std::int64_t> run_begin;
  for (std::int64_t i = 0; i < n; ++i)
    if (i == 0 || cls[order[i]] != cls[order[i - 1]]) run_begin.push_back(i);
  const auto runs = static_cast<std::int64_t>(run_begin.size());
  run_begin.push_back(n);

  // One greedy pass per class (sequential: after the score threshold and top-k a class holds at most
  // a few thousand boxes, a fraction of a millisecond).
  std::vector<std::int64_t> keep;
  for (std::int64_t r = 0; r < runs; ++r)
    cpu::nms_ordered(boxes.data<float>(), order.data() + run_begin[r], run_begin[r + 1] - run_begin[r], iou_threshold,
                     keep);
  std::sort(keep.begin(), keep.end(),
            [&](std::int64_t a, std::int64_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); });
  return to_index_tensor(keep);
}

namespace cpu {

void nms_ordered(const float* boxes, const std::int64_t* order, std::int64_t n, float iou_threshold,
                 std::vector<std::int64_t>& keep) {
  // The listed boxes, gathered in order as columns so that the inner loop streams and vectorises.
  std::vector<float> x1(static_cast<std::size_t>(n)), y1(x1.size()), x2(x1.size()), y2(x1.size()), area(x1.size());
  for (std::int64_t k = 0; k < n; ++k) {
    const float* b = boxes + 4 * order[k];
    x1[k] = b[0];
    y1[k] = b[1];
    x2[k] = b[2];
    y2[k] = b[3];
    area[k] = (b[2] - b[0]) * (b[3] - b[1]);
  }
  std::vector<std::uint8_t> suppressed(static_cast<std::size_t>(n), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    if (suppressed[i]) continue;
    keep.push_back(order[i]);
    const float ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], iarea = area[i];
    // Already suppressed boxes are tested again: that cannot change them, and keeps the loop
    // branch-free.
    for (std::int64_t j = i + 1; j < n; ++j) {
      const float w = max_of(min_of(ix2, x2[j]) - max_of(ix1, x1[j]), 0.f);
      const float h = max_of(min_of(iy2, y2[j]) - max_of(iy1, y1[j]), 0.f);
      const float inter = w * h;
      const float iou = inter / (iarea + area[j] - inter);
      suppressed[j] |= static_cast<std::uint8_t>(iou > iou_threshold);
    }
  }
}

}  // namespace cpu
}  // namespace ghm::detection
