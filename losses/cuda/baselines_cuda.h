// The baseline losses on CUDA, the twins of losses/baselines.cpp (same names, same formulas, see
// losses/baselines.h): each one fused pass writing dL/dpred and per-tile loss partials, then one
// block adding the partials in a fixed order into the [] loss, loss_weight * sum / avg_factor.
// Also the backward shared by every fused loss. Pointers are device memory of the current device;
// kernels run on the legacy default stream and nothing waits for them.
//
// Pure C++ declarations; defined in baselines_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

#include "losses/class_targets.h"

namespace ghm::losses::cuda {

// Classification: pred [N, K] logits, targets and weights `t`; grad: [N, K] written; loss: [1].
void bce_with_logits_loss(const float* pred, const DeviceClassTargets& t, double avg_factor, float loss_weight,
                          float* grad, float* loss);
void sigmoid_focal_loss(const float* pred, const DeviceClassTargets& t, double avg_factor, float alpha, float gamma,
                        float loss_weight, float* grad, float* loss);

// Regression over n elements: pred, target, weight, grad: [n]; loss: [1].
void smooth_l1_loss(const float* pred, const float* target, const float* weight, std::int64_t n, double avg_factor,
                    float beta, float loss_weight, float* grad, float* loss);
void asl1_loss(const float* pred, const float* target, const float* weight, std::int64_t n, double avg_factor, float mu,
               float loss_weight, float* grad, float* loss);

// The backward of a fused loss: d_pred = upstream[0] * grad.   grad, d_pred: [n]; upstream: [1].
void fused_loss_backward(const float* grad, const float* upstream, float* d_pred, std::int64_t n);

}  // namespace ghm::losses::cuda
