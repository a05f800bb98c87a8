// Pairwise IoU / IoF of two box sets on the CPU, and the dispatch of CUDA tensors to
// detection/cuda/iou_cuda.h; the formula and layout are in iou.h.
#include "detection/iou.h"

#include <algorithm>
#include <vector>

#include "core/cpu/parallel.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "detection/cuda/iou_cuda.h"
#endif

namespace ghm::detection {

void check_boxes(const Tensor& boxes, const char* op, const char* arg) {
  check_defined(boxes, op, arg);
  check_dtype(boxes, DType::F32, op, arg);
  GHM_CHECK(boxes.device().is_cpu(), op, ": ", arg, " is on ", boxes.device(), "; this op runs on the CPU");
  GHM_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, op, ": ", arg, " must be [*, 4] boxes (x1, y1, x2, y2), got ",
            boxes.shape());
}

Tensor box_overlaps(const Tensor& boxes1, const Tensor& boxes2, OverlapMode mode) {
#if GHM_WITH_CUDA
  if (boxes1.defined() && boxes1.device().is_cuda()) {
    const Device device = boxes1.device();
    cuda::check_boxes_on(boxes1, device, "box_overlaps", "boxes1");
    cuda::check_boxes_on(boxes2, device, "box_overlaps", "boxes2");
    const ghm::cuda::DeviceGuard guard(device.index);
    const std::int64_t n = boxes1.size(0), m = boxes2.size(0);
    Tensor out = Tensor::empty({n, m}, DType::F32, device);
    cuda::box_overlaps(boxes1.device_data<float>(), n, boxes2.device_data<float>(), m, mode, out.device_data<float>());
    return out;
  }
#endif
  check_boxes(boxes1, "box_overlaps", "boxes1");
  check_boxes(boxes2, "box_overlaps", "boxes2");
  const std::int64_t n = boxes1.size(0), m = boxes2.size(0);
  Tensor out = Tensor::empty({n, m});
  cpu::box_overlaps(boxes1.data<float>(), n, boxes2.data<float>(), m, mode, out.data<float>());
  return out;
}

namespace cpu {
namespace {

// boxes2 as columns (x1, y1, x2, y2, area), so that the loop over j streams and vectorises.
struct BoxColumns {
  std::vector<float> x1, y1, x2, y2, area;
  BoxColumns(const float* boxes, std::int64_t m)
      : x1(static_cast<std::size_t>(m)), y1(x1.size()), x2(x1.size()), y2(x1.size()), area(x1.size()) {
    for (std::int64_t j = 0; j < m; ++j) {
      const float* b = boxes + 4 * j;
      x1[j] = b[0];
      y1[j] = b[1];
      x2[j] = b[2];
      y2[j] = b[3];
      area[j] = box_area(b);
    }
  }
};

// One row segment: out[j] = overlap(a, b_j) for j in [j0, j1), the formula of box_overlap written
// on columns. The mode is a template argument so that the loop body has no branch.
template <OverlapMode kMode>
void overlap_row(const float* a, const BoxColumns& b, std::int64_t j0, std::int64_t j1, float* __restrict out) {
  const float ax1 = a[0], ay1 = a[1], ax2 = a[2], ay2 = a[3], area_a = box_area(a);
  const float* __restrict bx1 = b.x1.data();
  const float* __restrict by1 = b.y1.data();
  const float* __restrict bx2 = b.x2.data();
  const float* __restrict by2 = b.y2.data();
  const float* __restrict area_b = b.area.data();
  for (std::int64_t j = j0; j < j1; ++j) {
    const float w = max_of(min_of(ax2, bx2[j]) - max_of(ax1, bx1[j]), 0.f);
    const float h = max_of(min_of(ay2, by2[j]) - max_of(ay1, by1[j]), 0.f);
    const float inter = w * h;
    const float denom = kMode == OverlapMode::IoU ? area_a + area_b[j] - inter : area_a;
    out[j] = inter / max_of(denom, kOverlapEps);
  }
}

}  // namespace

void box_overlaps(const float* boxes1, std::int64_t n, const float* boxes2, std::int64_t m, OverlapMode mode,
                  float* overlaps) {
  if (n == 0 || m == 0) return;
  const BoxColumns columns(boxes2, m);
  const auto row_fn = mode == OverlapMode::IoU ? overlap_row<OverlapMode::IoU> : overlap_row<OverlapMode::IoF>;

  // Chunks of the flattened [N, M] range, walked as row segments.
  constexpr std::int64_t kGrain = 16384;
  ghm::cpu::parallel_for(n * m, kGrain, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t idx = begin;
    while (idx < end) {
      const std::int64_t i = idx / m;
      const std::int64_t j0 = idx % m;
      const std::int64_t j1 = std::min(m, j0 + (end - idx));
      row_fn(boxes1 + 4 * i, columns, j0, j1, overlaps + i * m);
      idx += j1 - j0;
    }
  });
}

}  // namespace cpu
}  // namespace ghm::detection
