// Pairwise IoU / IoF of two box sets on CUDA (the formula is in detection/iou.h):
//
//   overlaps[i, j] = inter(a_i, b_j) / max(area(a_i) + area(b_j) - inter(a_i, b_j), eps)   IoU
//                  = inter(a_i, b_j) / max(area(a_i), eps)                                  IoF
//
// Layout: boxes1 [N, 4], boxes2 [M, 4] (x1, y1, x2, y2), overlaps [N, M], row-major float32.
// Launch: one thread per output element t = i * M + j in a grid-stride loop (launch.h); threads of
// a warp write consecutive j, so the stores are coalesced, and read the same a_i (a broadcast) and
// consecutive b_j. Each output is written once: deterministic.
//
// Rounding: the per-pair math is box_overlap / box_area from detection/iou.h, the functions the
// CPU kernel's expression is written from, evaluated in the same order. This file is compiled with
// --fmad=false and the CPU file with -ffp-contract=off (detection/CMakeLists.txt): no multiply-add
// is fused on either side, every + - * / is one IEEE-rounded float32 operation, and the CUDA
// result equals the CPU's bit for bit.
#include "detection/cuda/iou_cuda.h"

#include "detection/cuda/grid_stride_cuda.h"

namespace ghm::detection::cuda {
namespace {

template <OverlapMode kMode>
__global__ void box_overlaps_kernel(const float* __restrict__ boxes1,  // [N, 4]
                                    const float* __restrict__ boxes2,  // [M, 4]
                                    std::int64_t m, std::int64_t total,
                                    float* __restrict__ overlaps) {  // [N, M], total = N * M
  for (std::int64_t t = first_index(); t < total; t += grid_stride()) {
    const std::int64_t i = t / m, j = t - i * m;
    const float* a = boxes1 + 4 * i;
    const float* b = boxes2 + 4 * j;
    overlaps[t] = box_overlap(a, box_area(a), b, box_area(b), kMode);
  }
}

}  // namespace

void box_overlaps(const float* boxes1, std::int64_t n, const float* boxes2, std::int64_t m, OverlapMode mode,
                  float* overlaps) {
  if (n == 0 || m == 0) return;
  const std::int64_t total = n * m;
  if (mode == OverlapMode::IoU)
    box_overlaps_kernel<OverlapMode::IoU><<<blocks_for(total), kThreads>>>(boxes1, boxes2, m, total, overlaps);
  else
    box_overlaps_kernel<OverlapMode::IoF><<<blocks_for(total), kThreads>>>(boxes1, boxes2, m, total, overlaps);
  GHM_CUDA_CHECK_LAUNCH();
}

void check_boxes_on(const Tensor& boxes, Device device, const char* op, const char* arg) {
  check_defined(boxes, op, arg);
  check_dtype(boxes, DType::F32, op, arg);
  GHM_CHECK(boxes.device() == device, op, ": ", arg, " is on ", boxes.device(), " but the op runs on ", device,
            "; every input must be on one device");
  GHM_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, op, ": ", arg, " must be [*, 4] boxes (x1, y1, x2, y2), got ",
            boxes.shape());
}

}  // namespace ghm::detection::cuda
