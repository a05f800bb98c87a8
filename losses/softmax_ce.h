// Softmax cross-entropy over K classes, one fused op (loss and gradient in one pass; backward
// scales the stored gradient), as torch.nn.functional.cross_entropy(reduction="sum") / avg_factor:
//
//   p_j = exp(x_j - m) / sum_i exp(x_i - m),   m = max_i x_i        (the max keeps exp finite)
//   l   = (m - x_y) + log(sum_i exp(x_i - m))                       (= -log p_y; m - x_y first,
//                                                                    so a large m loses nothing)
//   dl/dx_j = p_j - [j = y]
//
// loss = loss_weight * sum over rows with a label of l / avg_factor, as a [] tensor. A label of
// -1 leaves its row out (loss and gradient 0: torch's ignore_index); any other label must be in
// [0, K). The classifier of `ghm_retinanet pretrain` trains with it (and a two-stage detector's
// box head would). On a CUDA device the op reads one flag back to report a bad label, so unlike
// the other fused losses it waits for the device.
#pragma once

#include "core/tensor.h"

namespace ghm::losses {

// pred: [N, K] f32 logits; labels: [N] i64 on pred's device. avg_factor > 0.
Tensor softmax_cross_entropy_loss(const Tensor& pred, const Tensor& labels, double avg_factor,
                                  float loss_weight = 1.0f);

}  // namespace ghm::losses
