// CUDA kernels behind nn::Sgd::step and nn::clip_grad_norm: the twins of the loops in
// nn/optim.cpp (same formulas, same names). Pointers are device memory of the current device;
// kernels run on the legacy default stream.
//
// Pure C++ declarations; defined in optim_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

namespace ghm::nn::cuda {

// One SGD step (PyTorch, dampening 0, not Nesterov), elementwise over n:
//   d = g + wd * w;  v = first ? d : m * buf + d;  buf = v (when buf);  w -= lr * v
// w: [n] (updated), g: [n], buf: [n] or null (momentum 0).
void sgd_update(float* w, const float* g, float* buf, std::int64_t n, float lr, float wd, float m, bool first);

// Sums of squares of several gradients, in double and in a fixed order: chunks of a fixed size
// reduced by one block each (partials laid out chunk by chunk, tensor by tensor), the partials then
// added by one block in a fixed tree. grads: `count` device pointers, sizes[count] their lengths
// (host arrays).
// Returns the total on the host (one synchronising copy).
double sum_of_squares(const float* const* grads, const std::int64_t* sizes, int count, int device);

// x *= scale over n elements.       x: [n]
void scale_in_place(float* x, std::int64_t n, float scale);

}  // namespace ghm::nn::cuda
