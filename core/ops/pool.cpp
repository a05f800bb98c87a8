// Max pooling and nearest resizing: forward and backward side by side.
//
//   max_pool2d:        y = max over each window;  dx[argmax] += dy
//   upsample_nearest:  y[i, j] = x[src(i), src(j)];  dx[src(i), src(j)] += dy[i, j]
#include "core/ops/pool.h"

#include "core/autograd.h"
#include "core/cpu/pool_cpu.h"

namespace ghm {

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  check_dtype(x, DType::F32, "max_pool2d", "input");
  GHM_CHECK(x.dim() == 4, "max_pool2d: input must be [N, C, H, W], got ", x.shape());
  GHM_CHECK(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0 && p.pad_h >= 0 && p.pad_w >= 0,
            "max_pool2d: invalid kernel ", p.kernel_h, "x", p.kernel_w, ", stride ", p.stride_h, "x", p.stride_w,
            ", padding ", p.pad_h, "x", p.pad_w);
  GHM_CHECK(2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, "max_pool2d: padding ", p.pad_h, "x", p.pad_w,
            " must be at most half of the kernel ", p.kernel_h, "x", p.kernel_w);
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  GHM_CHECK(h + 2 * p.pad_h >= p.kernel_h && w + 2 * p.pad_w >= p.kernel_w, "max_pool2d: input ", x.shape(),
            " is smaller than the kernel");
  const std::int64_t ho = (h + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1;
  const std::int64_t wo = (w + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1;
  Tensor y = Tensor::empty(Shape{n, c, ho, wo});
  Tensor argmax = Tensor::empty(Shape{n, c, ho, wo}, DType::I32);
  cpu::max_pool2d_forward(x.data<float>(), y.data<float>(), argmax.data<std::int32_t>(), n * c, h, w, ho, wo, p);
  record_op(y, "max_pool2d", {&x}, [in_shape = x.shape(), argmax, ho, wo](const Tensor& dy) {
    Tensor dx = Tensor::empty(in_shape);
    cpu::max_pool2d_backward(dy.data<float>(), argmax.data<std::int32_t>(), dx.data<float>(), in_shape[0] * in_shape[1],
                             in_shape[2], in_shape[3], ho, wo);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor upsample_nearest(const Tensor& x, std::int64_t out_h, std::int64_t out_w) {
  check_dtype(x, DType::F32, "upsample_nearest", "input");
  GHM_CHECK(x.dim() == 4, "upsample_nearest: input must be [N, C, H, W], got ", x.shape());
  GHM_CHECK(out_h > 0 && out_w > 0, "upsample_nearest: output size ", out_h, "x", out_w, " must be positive");
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  GHM_CHECK(h > 0 && w > 0, "upsample_nearest: input ", x.shape(), " has an empty plane");
  Tensor y = Tensor::empty(Shape{n, c, out_h, out_w});
  cpu::upsample_nearest_forward(x.data<float>(), y.data<float>(), n * c, h, w, out_h, out_w);
  record_op(y, "upsample_nearest", {&x}, [in_shape = x.shape(), out_h, out_w](const Tensor& dy) {
    Tensor dx = Tensor::empty(in_shape);
    cpu::upsample_nearest_backward(dy.data<float>(), dx.data<float>(), in_shape[0] * in_shape[1], in_shape[2],
                                   in_shape[3], out_h, out_w);
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace ghm
