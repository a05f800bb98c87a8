// CPU kernels for batch normalisation. Layout: x, y, dy, dx are [N, C, S] with S = H*W; per-channel
// vectors are [C].
#pragma once

#include <cstdint>

namespace ghm::cpu {

// mean[c] and biased var[c] over N and S (two passes, double accumulation).
void channel_mean_var(const float* x, std::int64_t n, std::int64_t c, std::int64_t s, float* mean, float* var);
// y[n, c, :] = x[n, c, :] * scale[c] + shift[c]
void channel_affine(const float* x, const float* scale, const float* shift, float* y, std::int64_t n, std::int64_t c,
                    std::int64_t s);
// sum_dy[c] = sum dy;  sum_dy_xhat[c] = sum dy * (x - mean[c]) * inv_std[c]
void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* inv_std, std::int64_t n,
                       std::int64_t c, std::int64_t s, float* sum_dy, float* sum_dy_xhat);
// Training-mode input gradient:
// dx = gamma[c] * inv_std[c] / M * (M * dy - sum_dy[c] - xhat * sum_dy_xhat[c]),  M = n * s
void batch_norm_train_backward_input(const float* dy, const float* x, const float* mean, const float* inv_std,
                                     const float* gamma, const float* sum_dy, const float* sum_dy_xhat, float* dx,
                                     std::int64_t n, std::int64_t c, std::int64_t s);

// Group norm over x: [N, C, S] with G groups (each a contiguous block of M = C/G * S values).
// y = (x - mean) * inv_std * gamma[c] + beta[c];  mean, inv_std: [N * G] (written).
void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* inv_std,
                        std::int64_t n, std::int64_t c, std::int64_t s, std::int64_t groups, float eps);
// dx = inv_std / M * (M * g - sum(g) - xhat * sum(g * xhat)), g = dy * gamma[c], sums per (n, group);
// dgamma[c] = sum dy * xhat, dbeta[c] = sum dy (either may be null).
void group_norm_backward(const float* dy, const float* x, const float* gamma, const float* mean, const float* inv_std,
                         float* dx, float* dgamma, float* dbeta, std::int64_t n, std::int64_t c, std::int64_t s,
                         std::int64_t groups);

}  // namespace ghm::cpu
