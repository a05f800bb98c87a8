// The state GHM losses carry between calls: one exponential moving average S_i of the number of
// examples per gradient-norm bin (the paper's Eq. 8 as the reference code runs it), and the
// statistics of the last call for logging, plotting and cross-checking.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace ghm::losses {

// Which examples share one gradient density.
enum class GhmScope {
  PerLevel,  // the reference code: one call per FPN level (P3..P7 in order), one shared EMA state
  Batch,     // the paper's text: one density over the whole mini-batch
};

// A data-parallel job's GHM density over the job's batch instead of each process's share
// (dist.ghm_counts: sum; the paper's definition). Every call hands `sum` its values
// [R_0 .. R_{M-1}, tot] (per call, calls in order; a CUDA run all its calls at once), which `sum`
// replaces by their sums over the processes (an all-reduce); the weights then come from the sums,
// identical in every process, and the loss is divided by tot / processes, so that the gradients
// averaged over the processes equal one process's over the whole batch. Unset: each process alone.
struct GhmCountSum {
  std::function<void(std::span<double>)> sum;
  int processes = 1;
  explicit operator bool() const { return static_cast<bool>(sum); }
};

// S_i <- m * S_i + (1 - m) * R_i for the bins that are non-empty in a call; starts at zero and is
// saved in checkpoints so a resumed run continues exactly.
//
// Where S lives: a CUDA loss keeps S on the GPU of its inputs, so that a call needs no host
// synchronisation (the EMA runs in a kernel between two others). Its first call copies acc_sum to
// `device_acc_sum` and sets `on_device`; later calls update the device copy in place, and acc_sum
// is stale until sync_to_host(). So: read S through values() (checkpoints do); code that assigns
// acc_sum after a CUDA loss has run also sets on_device = false, making its values the current S
// (the next CUDA call copies them over); CPU losses sync by themselves.
struct GhmEmaState {
  std::vector<float> acc_sum;  // [bins] S on the host (current unless on_device)
  Tensor device_acc_sum;       // [bins] f32 S on a CUDA device, current while on_device
  bool on_device = false;
  GhmCountSum across;          // set by a data-parallel trainer (not saved: a property of the job)

  explicit GhmEmaState(int bins = 0) : acc_sum(static_cast<std::size_t>(bins), 0.0f) {}
  // A copy owns its own device copy (a device-to-device copy), so two states never share one S.
  GhmEmaState(const GhmEmaState& o)
      : acc_sum(o.acc_sum), device_acc_sum(o.on_device ? o.device_acc_sum.detach().clone() : Tensor()),
        on_device(o.on_device), across(o.across) {}
  GhmEmaState& operator=(const GhmEmaState& o) {
    if (this != &o) *this = GhmEmaState(o);
    return *this;
  }
  GhmEmaState(GhmEmaState&&) = default;
  GhmEmaState& operator=(GhmEmaState&&) = default;

  // The current S (a synchronising device-to-host copy while it is on the device).
  std::vector<float> values() const {
    return on_device ? device_acc_sum.detach().to(Device::cpu()).to_vector<float>() : acc_sum;
  }
  // Makes acc_sum the current S again; the next CUDA call copies it to the device afresh.
  void sync_to_host() {
    if (!on_device) return;
    acc_sum = values();
    on_device = false;
  }
};

// What one call (one level, or the whole batch) saw.
struct GhmCallStats {
  std::vector<std::int64_t> num_in_bin;  // [bins] R_i: valid elements per bin
  std::vector<float> bin_weight;         // [bins] w_i given to each element of bin i (0 for empty bins)
  std::vector<float> acc_sum;            // [bins] the EMA state after this call (empty without momentum)
  double tot = 0;                        // the normaliser: valid count (GHM-C) or weight sum (GHM-R), >= 1
                                         // (summed over the processes and divided by their number
                                         // with GhmEmaState::across)
  int nonempty_bins = 0;                 // n
  double loss = 0;                       // this call's loss (times loss_weight)
};

enum class ElementWeights : bool { Skip, Keep };

// The output of a GHM forward: loss, gradient and per-call statistics.
struct GhmResult {
  Tensor loss;                       // [] the sum of the calls' losses
  double total = 0;                  // the same sum in double
  Tensor grad;                       // shape of pred: dL/dpred for an upstream gradient of 1
  Tensor element_weight;             // shape of pred when requested: each element's w (0 when invalid)
  std::vector<GhmCallStats> calls;   // one per call (level), in order
};
using GhmcResult = GhmResult;
using GhmrResult = GhmResult;

}  // namespace ghm::losses
