// The GHM driver on CUDA: the twin of losses/cpu/ghm_cpu.h with the same three passes, run for all
// calls (FPN levels, in order, through one EMA state) in one set of launches. The math and the
// launch geometry are described at the top of ghm_cuda.cu.
//
// Everything stays on the device: the loss is a [] tensor there and the per-call statistics are
// copied to the host only when read_call_stats() asks for them (the one synchronising step).
// Tensors are on one CUDA device, which must be the current one (losses/ghm_c.cpp sets it).
//
// Pure C++ declarations; defined in ghm_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "losses/class_targets.h"
#include "losses/ghm_settings.h"
#include "losses/ghm_state.h"

namespace ghm::losses::cuda {

// Calls of one run travel as kernel arguments (their element and tile offsets), so their number
// is bounded; RetinaNet has 5.
constexpr int kMaxGhmCalls = 64;

// What a run leaves on the device.
struct GhmRun {
  Tensor loss;            // [] f32: the sum of the calls' losses
  Tensor grad;            // shape of pred: dL/dpred for an upstream gradient of 1
  Tensor element_weight;  // shape of pred: each element's w (0 when invalid), when requested
  Tensor stats;           // u8: per-call R_i, w_i, S_i, tot, n and loss (layout private to ghm_cuda.cu)
  int calls = 0, bins = 0;
  bool momentum = false;
};

// GHM-C (settings of that kind) over pred [N, K] f32 logits with targets and label weights `t`
// (addresses on pred's device). call_rows [L + 1]: row offsets of the calls, 0 .. N (see
// losses::call_rows). The EMA state, sized by check_ghm_call, moves to the device on first use
// (see GhmEmaState).
GhmRun ghm_c_calls(const GhmSettings& settings, const Tensor& pred, const DeviceClassTargets& t,
                   std::span<const std::int64_t> call_rows, GhmEmaState& state, ElementWeights keep);

// GHM-R (settings of that kind, mu among them) over pred, target, label_weight [N, D] f32 on one
// device.
GhmRun ghm_r_calls(const GhmSettings& settings, const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                   std::span<const std::int64_t> call_rows, GhmEmaState& state, ElementWeights keep);

// The per-call statistics of a run, in call order (copies them to the host: synchronises).
std::vector<GhmCallStats> read_call_stats(const GhmRun& run);

// The loss op of a run: its value and stored gradient stay on the device; the statistics are read
// (synchronising) only when `stats` asks for them.
Tensor ghm_loss_output(const GhmRun& run, const Tensor& pred, std::vector<GhmCallStats>* stats, const char* op);

// A run as the forward functions return it: loss, grad and element weights stay on the device,
// the statistics and `total` (their losses summed in call order) come to the host (synchronises).
GhmResult read_result(const GhmRun& run);

}  // namespace ghm::losses::cuda
