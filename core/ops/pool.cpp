// Max pooling and nearest resizing: forward and backward side by side.
//
//   max_pool2d:        y = max over each window;  dx[argmax] += dy
//   upsample_nearest:  y[i, j] = x[src(i), src(j)];  dx[src(i), src(j)] += dy[i, j]
#include "core/ops/pool.h"

#include <limits>

#include "core/autograd.h"
#include "core/cpu/pool_cpu.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/pool_cuda.h"
#endif

namespace ghm {
namespace {

// The kernels of the tensors' device: cpu:: or its twin cuda:: with the same name (the CUDA
// backward also takes the pooling parameters, to find the windows holding each input).
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& argmax, const Pool2dParams& p) {
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), ho = y.size(2), wo = y.size(3);
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::max_pool2d_forward(x.device_data<float>(), y.device_data<float>(), argmax.device_data<std::int32_t>(), planes,
                             h, w, ho, wo, p);
    return;
  }
#endif
  cpu::max_pool2d_forward(x.data<float>(), y.data<float>(), argmax.data<std::int32_t>(), planes, h, w, ho, wo, p);
}

void max_pool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx, const Pool2dParams& p) {
  const std::int64_t planes = dx.size(0) * dx.size(1), h = dx.size(2), w = dx.size(3), ho = dy.size(2), wo = dy.size(3);
#if GHM_WITH_CUDA
  if (dy.device().is_cuda()) {
    const cuda::DeviceGuard guard(dy.device().index);
    cuda::max_pool2d_backward(dy.device_data<float>(), argmax.device_data<std::int32_t>(), dx.device_data<float>(),
                              planes, h, w, ho, wo, p);
    return;
  }
#endif
  cpu::max_pool2d_backward(dy.data<float>(), argmax.data<std::int32_t>(), dx.data<float>(), planes, h, w, ho, wo);
}

void upsample_nearest_forward(const Tensor& x, Tensor& y) {
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), ho = y.size(2), wo = y.size(3);
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::upsample_nearest_forward(x.device_data<float>(), y.device_data<float>(), planes, h, w, ho, wo);
    return;
  }
#endif
  cpu::upsample_nearest_forward(x.data<float>(), y.data<float>(), planes, h, w, ho, wo);
}

void upsample_nearest_backward(const Tensor& dy, Tensor& dx) {
  const std::int64_t planes = dx.size(0) * dx.size(1), h = dx.size(2), w = dx.size(3), ho = dy.size(2), wo = dy.size(3);
#if GHM_WITH_CUDA
  if (dy.device().is_cuda()) {
    const cuda::DeviceGuard guard(dy.device().index);
    cuda::upsample_nearest_backward(dy.device_data<float>(), dx.device_data<float>(), planes, h, w, ho, wo);
    return;
  }
#endif
  cpu::upsample_nearest_backward(dy.data<float>(), dx.data<float>(), planes, h, w, ho, wo);
}

}  // namespace

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
  GHM_CHECK(h * w <= std::numeric_limits<std::int32_t>::max(), "max_pool2d: a plane of ", h, "x", w,
            " elements is too large for its i32 argmax");
  Tensor y = Tensor::empty(Shape{n, c, ho, wo}, DType::F32, x.device());
  Tensor argmax = Tensor::empty(Shape{n, c, ho, wo}, DType::I32, x.device());
  max_pool2d_forward(x, y, argmax, p);
  record_op(y, "max_pool2d", {&x}, [in_shape = x.shape(), argmax, p](const Tensor& dy) {
    Tensor dx = Tensor::empty(in_shape, DType::F32, dy.device());
    max_pool2d_backward(dy, argmax, dx, p);
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
  Tensor y = Tensor::empty(Shape{n, c, out_h, out_w}, DType::F32, x.device());
  upsample_nearest_forward(x, y);
  record_op(y, "upsample_nearest", {&x}, [in_shape = x.shape()](const Tensor& dy) {
    Tensor dx = Tensor::empty(in_shape, DType::F32, dy.device());
    upsample_nearest_backward(dy, dx);
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace ghm
