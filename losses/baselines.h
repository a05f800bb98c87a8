// The baseline losses the paper compares GHM with, each one fused op (loss and gradient in one
// pass; backward scales the stored gradient). All return loss_weight * sum(...) / avg_factor as a
// [] tensor; avg_factor must be > 0.
//
//   bce:     l = max(x,0) - x*y + log(1 + exp(-|x|))                          (stable BCE with logits)
//   focal:   l = -alpha_t (1 - p_t)^gamma log(p_t), p_t = p if y else 1 - p,
//            alpha_t = alpha if y else 1 - alpha                               (Lin et al. 2017)
//   sl1:     l = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta,  d = pred - target
//            (beta 0: l = |d|, torch's l1_loss, with gradient sign(d), 0 at d = 0)
//   asl1:    l = sqrt(d^2 + mu^2) - mu                                         (the paper's Eq. 10)
//
// Classification losses take targets and label weights as ghm_c_loss does (one-hot [N, K] or
// labels [N]; weights [N, K] or [N]); the weight multiplies each element's loss (0 ignores it).
// Regression losses take pred, target, weight of one shape [N, D].
#pragma once

#include "core/tensor.h"

namespace ghm::losses {

Tensor bce_with_logits_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, double avg_factor,
                            float loss_weight = 1.0f);
Tensor sigmoid_focal_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight, double avg_factor,
                          float alpha = 0.25f, float gamma = 2.0f, float loss_weight = 1.0f);
Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, const Tensor& weight, double avg_factor,
                      float beta = 1.0f / 9.0f, float loss_weight = 1.0f);
Tensor asl1_loss(const Tensor& pred, const Tensor& target, const Tensor& weight, double avg_factor, float mu = 0.02f,
                 float loss_weight = 1.0f);

}  // namespace ghm::losses
