// GHM-C with the paper's exact gradient density (Eq. 4-8), for the paper's Table 2 comparison of
// the exact density with the unit-region approximation, and for study.
//
//   GD(g) = (1 / l_eps(g)) * #{ j valid : g - eps/2 <= g_j < g + eps/2 }
//   l_eps(g) = min(g + eps/2, 1) - max(g - eps/2, 0)
//   beta_i = tot / GD(g_i),   L = loss_weight * sum_i beta_i * BCE_i / tot = loss_weight * sum_i BCE_i / GD(g_i)
//   dL/dx_i = loss_weight * (p_i - y_i) / GD(g_i)
//
// g as in GHM-C (|sigmoid(x) - y|), valid = label_weight > 0, tot = #valid. No EMA: the density
// is exact for the call. Cost O(E log E) per call: one sort of the valid g, then two binary
// searches per element (against O(E) for the unit-region version).
#pragma once

#include <span>

#include "core/tensor.h"
#include "losses/ghm_state.h"

namespace ghm::losses {

struct GhmcExactParams {
  double epsilon = 0.1;  // window width (the unit-region version's 1/M for M bins)
  float loss_weight = 1.0f;
};

// Arguments as ghm_c_loss; element_weight receives beta_i.
GhmResult ghm_c_exact_forward(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                              const GhmcExactParams& params, std::span<const std::int64_t> level_rows = {},
                              ElementWeights keep = ElementWeights::Skip);
Tensor ghm_c_exact_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                        const GhmcExactParams& params, std::span<const std::int64_t> level_rows = {});

}  // namespace ghm::losses
