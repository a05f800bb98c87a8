// GHM-R: the gradient harmonized regression loss over box deltas, with the reference semantics:
//
//   d = pred - target;  ASL1(d) = sqrt(d^2 + mu^2) - mu;  g = |d| / sqrt(d^2 + mu^2)
//   bins as GHM-C but with the last edge at 1e3 (so g == 1 in float32 is still binned)
//   valid = label_weight > 0,  tot = max(sum(label_weight), 1)   (a sum here, a count in GHM-C)
//   w = tot / (S_bin(g) * n) for valid elements
//   L = loss_weight * sum(w * ASL1(d)) / tot,   dL/dpred = loss_weight * w * d / sqrt(d^2 + mu^2) / tot
#pragma once

#include <span>
#include <vector>

#include "core/tensor.h"
#include "losses/ghm_settings.h"
#include "losses/ghm_state.h"

namespace ghm::losses {

// settings: made by GhmSettings::regression. pred, target, label_weight: [N, D] f32 (D = 4 for
// boxes). level_rows as in ghm_c_loss.
Tensor ghm_r_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                  const GhmSettings& settings, GhmEmaState& state, std::span<const std::int64_t> level_rows = {},
                  std::vector<GhmCallStats>* stats = nullptr);

// The same computation without autograd, for tools and cross-checks: the loss, dL/dpred (for an
// upstream gradient of 1), optionally each element's weight, and the statistics of every call.
GhmrResult ghm_r_forward(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                         const GhmSettings& settings, GhmEmaState& state,
                         std::span<const std::int64_t> level_rows = {}, ElementWeights keep = ElementWeights::Skip);

}  // namespace ghm::losses
