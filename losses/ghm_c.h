// GHM-C: the gradient harmonized classification loss (Li, Liu, Wang, AAAI 2019), with the
// semantics of the reference implementation (see docs/losses.md): for sigmoid logits x and
// binary targets y,
//
//   g = |sigmoid(x) - y|                      the gradient norm of BCE w.r.t. x
//   bin(g): edges i/M (float32), last edge 1 + 1e-6, bin i = [e_i, e_{i+1})
//   valid = label_weight > 0,  tot = max(#valid, 1)
//   R_i = #valid in bin i;  n = #non-empty bins;  S_i = EMA of R_i (or R_i without momentum)
//   w = tot / (S_bin(g) * n) for valid elements, 0 otherwise
//   L = loss_weight * sum(w * BCE(x, y)) / tot,   dL/dx = loss_weight * w * (sigmoid(x) - y) / tot
//
// The loss value and the gradient come out of one fused pass; backward only scales the stored
// gradient by the upstream gradient (the weights are constants, as in the reference).
#pragma once

#include <span>
#include <vector>

#include "core/tensor.h"
#include "losses/ghm_settings.h"
#include "losses/ghm_state.h"

namespace ghm::losses {

// settings: made by GhmSettings::classification. pred: [N, K] f32 logits. target: [N, K] f32
// binary, or [N] i32/i64 labels in [0, K] with K (or any negative value) meaning background.
// label_weight: [N, K] or [N] f32 (only > 0 matters).
// level_rows: row offsets [L + 1] splitting the N rows into per-level calls (PerLevel scope), run in
// order through `state`; empty means one call over all rows. Returns the sum of the per-call
// losses as a [] tensor; `stats`, when given, receives one entry per call.
Tensor ghm_c_loss(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                  const GhmSettings& settings, GhmEmaState& state, std::span<const std::int64_t> level_rows = {},
                  std::vector<GhmCallStats>* stats = nullptr);

// The same computation without autograd, for tools and cross-checks: the loss, dL/dpred (for an
// upstream gradient of 1), optionally each element's weight, and the statistics of every call.
GhmcResult ghm_c_forward(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                         const GhmSettings& settings, GhmEmaState& state,
                         std::span<const std::int64_t> level_rows = {}, ElementWeights keep = ElementWeights::Skip);

}  // namespace ghm::losses
