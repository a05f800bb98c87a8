// The loss runner behind `ghm_retinanet loss`: one of our losses on tensors from a safetensors
// file, writing the loss, the gradient and (for GHM) the weights, bin counts and EMA state, so that
// any other implementation (tools/ghm_reference.py is one) can be checked against ours on the same
// input.
//
// Input: `pred`, `target`, `label_weight`, or a sequence `pred.0`, `target.0`, `label_weight.0`,
// `pred.1`, ... run in order through one EMA state (each step one call with its own tot and n, as
// the reference's per-level calls); optional `acc_sum` [bins] is the initial state.
// Output: `loss` [steps]; per step k: `grad.k`; for ghmc/ghmr also `weights.k`, `num_in_bin.k`,
// `acc_sum.k`. With scope batch the steps are concatenated into one call (loss has one entry).
// On a CUDA device the inputs are copied to that GPU, the loss runs there and the outputs are
// copied back; ghmc-exact runs on the CPU only.
//
// Errors name the command's options (--bins, --momentum, ...) and the input file.
#pragma once

#include <string>

namespace ghm::engine {

struct LossRunOptions {
  std::string kind;                   // ghmc, ghmr, ghmc-exact, bce, focal, sl1 or asl1
  std::string in, out;                // the input and output safetensors files
  std::string scope = "per_level";    // GHM: per_level (one call per step) or batch (one call)
  std::string device = "cpu";         // cpu, cuda or cuda:I (checked by parse_device before the input is read)
  int bins = 10;                      // GHM bins M (ghmc-exact: the window eps = 1 / M)
  double momentum = 0.0;              // GHM EMA momentum; 0: none
  double avg_factor = -1.0;           // the loss divisor; < 0: the kind's default, from the weights and targets
  float mu = 0.02f;                   // GHM-R and ASL1: sqrt(d^2 + mu^2) - mu
  float loss_weight = 1.0f;           // multiplies the loss
  float alpha = 0.25f, gamma = 2.0f;  // focal
  float beta = 1.0f / 9.0f;           // smooth L1
};

// Runs the loss, writes `out` (metadata: kind, scope) and prints "loss[i] = ..." per call.
void run_loss_file(const LossRunOptions& options);

}  // namespace ghm::engine
