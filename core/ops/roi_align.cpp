// RoIAlign: forward and backward side by side (the math is in roi_align.h).
//
//   y[k, c, ph, pw] = 1/count * sum over the bin's samples s of bilinear(x[b_k, c], s)
//   dx[b_k, c, p]  += dy[k, c, ph, pw] * weight_s(p) / count   for the four pixels p of each sample
#include "core/ops/roi_align.h"

#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/cpu/roi_align_cpu.h"
#include "core/ops/roi_align_math.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/roi_align_cuda.h"
#endif

namespace ghm {
namespace {

// The kernels of the tensors' device: cpu:: or its twin cuda:: with the same name.
void roi_align_forward(const Tensor& x, const Tensor& rois, Tensor& y, const RoiAlignParams& p) {
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), k = rois.size(0);
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::roi_align_forward(x.device_data<float>(), rois.device_data<float>(), y.device_data<float>(), n, c, h, w, k,
                            p);
    return;
  }
#endif
  cpu::roi_align_forward(x.data<float>(), rois.data<float>(), y.data<float>(), n, c, h, w, k, p);
}

void roi_align_backward(const Tensor& dy, const Tensor& rois, Tensor& dx, const RoiAlignParams& p) {
  const std::int64_t n = dx.size(0), c = dx.size(1), h = dx.size(2), w = dx.size(3), k = rois.size(0);
#if GHM_WITH_CUDA
  if (dy.device().is_cuda()) {
    const cuda::DeviceGuard guard(dy.device().index);
    cuda::roi_align_backward(dy.device_data<float>(), rois.device_data<float>(), dx.device_data<float>(), n, c, h, w,
                             k, p);
    return;
  }
#endif
  cpu::roi_align_backward(dy.data<float>(), rois.data<float>(), dx.data<float>(), n, c, h, w, k, p);
}

}  // namespace

Tensor roi_align(const Tensor& x, const Tensor& rois, const RoiAlignParams& p) {
  const char* op = "roi_align";
  check_dtype(x, DType::F32, op, "input");
  check_dtype(rois, DType::F32, op, "rois");
  GHM_CHECK(x.dim() == 4, "roi_align: input must be [N, C, H, W], got ", x.shape());
  GHM_CHECK(rois.dim() == 2 && rois.size(1) == 5, "roi_align: rois must be [K, 5] (batch index, x1, y1, x2, y2), got ",
            rois.shape());
  GHM_CHECK(rois.device() == x.device(), "roi_align: input on ", x.device(), ", rois on ", rois.device(),
            " must be on one device");
  GHM_CHECK(p.out_h > 0 && p.out_w > 0, "roi_align: output size ", p.out_h, "x", p.out_w, " must be positive");
  GHM_CHECK(p.spatial_scale > 0.f && std::isfinite(p.spatial_scale), "roi_align: spatial_scale must be positive, got ",
            p.spatial_scale);
  GHM_CHECK(p.sampling_ratio <= kRoiAlignMaxGrid, "roi_align: sampling_ratio ", p.sampling_ratio, " is above ",
            kRoiAlignMaxGrid);
  const std::int64_t n = x.size(0), k = rois.size(0);
  GHM_CHECK(x.size(2) > 0 && x.size(3) > 0, "roi_align: input ", x.shape(), " has an empty plane");
  GHM_CHECK(x.size(2) * x.size(3) <= std::numeric_limits<std::int32_t>::max(), "roi_align: a plane of ", x.size(2),
            "x", x.size(3), " is too large");
  if (!rois.device().is_cuda())
    for (std::int64_t r = 0; r < k; ++r)
      GHM_CHECK(roi_math::roi_batch(rois.data<float>() + r * 5, n) >= 0, "roi_align: box ", r, " has batch index ",
                rois.data<float>()[r * 5], ", not a whole number in [0, ", n, ")");
  Tensor y = Tensor::empty(Shape{k, x.size(1), p.out_h, p.out_w}, DType::F32, x.device());
  roi_align_forward(x, rois, y, p);
  record_op(y, op, {&x}, [in_shape = x.shape(), rois = rois.detach(), p](const Tensor& dy) {
    Tensor dx = Tensor::empty(in_shape, DType::F32, dy.device());
    roi_align_backward(dy, rois, dx, p);
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace ghm
