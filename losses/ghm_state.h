// The state GHM losses carry between calls: one exponential moving average S_i of the number of
// examples per gradient-norm bin (the paper's Eq. 8 as the reference code runs it), and the
// statistics of the last call for logging, plotting and cross-checking.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ghm::losses {

// Which examples share one gradient density.
enum class GhmScope {
  PerLevel,  // the reference code: one call per FPN level (P3..P7 in order), one shared EMA state
  Batch,     // the paper's text: one density over the whole mini-batch
};

// S_i <- m * S_i + (1 - m) * R_i for the bins that are non-empty in a call; starts at zero and is
// saved in checkpoints so a resumed run continues exactly.
struct GhmEmaState {
  std::vector<float> acc_sum;  // [bins]

  explicit GhmEmaState(int bins = 0) : acc_sum(static_cast<std::size_t>(bins), 0.0f) {}
};

// What one call (one level, or the whole batch) saw.
struct GhmCallStats {
  std::vector<std::int64_t> num_in_bin;  // [bins] R_i: valid elements per bin
  std::vector<float> bin_weight;         // [bins] w_i given to each element of bin i (0 for empty bins)
  std::vector<float> acc_sum;            // [bins] the EMA state after this call (empty without momentum)
  double tot = 0;                        // the normaliser: valid count (GHM-C) or weight sum (GHM-R), >= 1
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
