// CUDA kernels for batch and group normalisation: the twins of core/cpu/norm_cpu.h (same names,
// arguments and formulas), plus the per-channel steps that the CPU does in short loops in
// core/ops/norm.cpp, here on the device so that statistics and running buffers never leave it.
// Pointers are device memory of the current device; kernels run on the legacy default stream.
// Every sum is taken in a fixed order: results are the same on every run.
//
// Layout: x, y, dy, dx are [N, C, S] with S = H*W; per-channel vectors are [C]; group statistics
// are [N * G] (image-major). gamma/beta marked "may be null" mean 1 and 0 when null.
//
// Pure C++ declarations; defined in norm_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

namespace ghm::cuda {

// mean[c] and biased var[c] over N and S (two passes, double accumulation).
//   x: [N, C, S]; mean, var: [C]
void channel_mean_var(const float* x, std::int64_t n, std::int64_t c, std::int64_t s, float* mean, float* var);
// y[n, c, :] = x[n, c, :] * scale[c] + shift[c]        x, y: [N, C, S]; scale, shift: [C]
void channel_affine(const float* x, const float* scale, const float* shift, float* y, std::int64_t n, std::int64_t c,
                    std::int64_t s);
// sum_dy[c] = sum dy;  sum_dy_xhat[c] = sum dy * (x - mean[c]) * inv_std[c]
//   dy, x: [N, C, S]; mean, inv_std, sum_dy, sum_dy_xhat: [C]
void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* inv_std, std::int64_t n,
                       std::int64_t c, std::int64_t s, float* sum_dy, float* sum_dy_xhat);
// Training-mode input gradient:
// dx = gamma[c] * inv_std[c] / M * (M * dy - sum_dy[c] - xhat * sum_dy_xhat[c]),  M = n * s
//   dy, x, dx: [N, C, S]; mean, inv_std, gamma (may be null), sum_dy, sum_dy_xhat: [C]
void batch_norm_train_backward_input(const float* dy, const float* x, const float* mean, const float* inv_std,
                                     const float* gamma, const float* sum_dy, const float* sum_dy_xhat, float* dx,
                                     std::int64_t n, std::int64_t c, std::int64_t s);

// running_mean = (1 - momentum) * running_mean + momentum * mean,
// running_var  = (1 - momentum) * running_var  + momentum * var * unbias   (in place)
//   mean, var, running_mean, running_var: [C]
void batch_norm_update_running(const float* mean, const float* var, std::int64_t c, float momentum, float unbias,
                               float* running_mean, float* running_var);
// inv_std = 1 / sqrt(var + eps);  scale = gamma * inv_std;  shift = beta - mean * scale
//   mean, var, gamma (may be null), beta (may be null), inv_std, scale, shift: [C]
void batch_norm_scale_shift(const float* mean, const float* var, const float* gamma, const float* beta,
                            std::int64_t c, float eps, float* inv_std, float* scale, float* shift);
// scale = gamma / sqrt(running_var + eps);  shift = beta - running_mean * scale
//   gamma (may be null), beta (may be null), running_mean, running_var, scale, shift: [C]
void frozen_batch_norm_scale_shift(const float* gamma, const float* beta, const float* running_mean,
                                   const float* running_var, std::int64_t c, float eps, float* scale, float* shift);

// Group norm over x: [N, C, S] with G groups (each a contiguous block of M = C/G * S values).
// y = (x - mean) * inv_std * gamma[c] + beta[c];  mean, inv_std: [N * G] (written).
//   x, y: [N, C, S]; gamma, beta: [C] (may be null)
void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* inv_std,
                        std::int64_t n, std::int64_t c, std::int64_t s, std::int64_t groups, float eps);
// dx = inv_std / M * (M * g - sum(g) - xhat * sum(g * xhat)), g = dy * gamma[c], sums per (n, group);
// dgamma[c] = sum dy * xhat, dbeta[c] = sum dy. dx, dgamma, dbeta may each be null (not wanted).
//   dy, x, dx: [N, C, S]; gamma (may be null), dgamma, dbeta: [C]; mean, inv_std: [N * G]
void group_norm_backward(const float* dy, const float* x, const float* gamma, const float* mean, const float* inv_std,
                         float* dx, float* dgamma, float* dbeta, std::int64_t n, std::int64_t c, std::int64_t s,
                         std::int64_t groups);

}  // namespace ghm::cuda
