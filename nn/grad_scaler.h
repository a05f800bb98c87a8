// Dynamic loss scaling for fp16 training (core/precision.h), as PyTorch's GradScaler and
// mmdetection's fp16 hook: the loss is multiplied by a scale S before backward, so that small
// gradients survive fp16's narrow range (smallest normal 6.1e-5), and the gradients are divided by
// S again before clipping and the optimizer step.
//
//   step:   backward from S * loss;  g /= S (all gradients);  n = global norm of g
//           n finite:     clip, optimizer step; after `growth_interval` such steps in a row, S *= 2
//           n inf / NaN:  no step (weights, momentum untouched), S /= 2, the count starts again
//
// S stays a power of two (the initial value is checked), so scaling and unscaling are exact in
// float32: with no overflow or underflow, a scaled run computes the same gradients bit for bit as
// an unscaled one (tests/apps/test_loss_scale.cpp checks that through the trainer). S and the count
// of good steps are saved in checkpoints, so a resumed run continues with the same scale.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ghm::nn {

struct GradScalerConfig {
  bool dynamic = false;         // false: a fixed scale (1: no scaling)
  double init_scale = 65536.0;  // 2^16, PyTorch's default; a power of two
  int growth_interval = 2000;   // good steps in a row before S doubles (PyTorch's default)
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerConfig config);

  double scale() const { return scale_; }
  bool dynamic() const { return config_.dynamic; }
  std::int64_t good_steps() const { return good_steps_; }  // finite steps since the scale last changed
  std::int64_t skipped_steps() const { return skipped_; }  // since this object was made or restored
  int skipped_in_a_row() const { return skipped_in_a_row_; }
  // Skipped steps in a row after which a run is diverging rather than overflowing: the scale has
  // fallen by 2^64 and the gradients are still inf or NaN (engine/trainer.cpp stops the run).
  static constexpr int kMaxSkippedInARow = 64;

  // Divides every gradient by the scale; returns their global norm after that (nn::grad_norm).
  double unscale(const std::vector<Tensor>& params) const;
  // After a step's norm is known: adjusts the scale and returns whether the optimizer may step.
  // Dynamic: false for an inf or NaN norm (the step is skipped, the scale halves). Fixed: whether
  // the norm is finite (the caller treats a non-finite one as divergence).
  bool update(double grad_norm);

  // The state a checkpoint keeps (engine/checkpoint.h): the scale and good_steps(). Checked.
  void restore(double scale, std::int64_t good_steps);

 private:
  GradScalerConfig config_;
  double scale_;
  std::int64_t good_steps_ = 0;
  std::int64_t skipped_ = 0;
  int skipped_in_a_row_ = 0;
};

}  // namespace ghm::nn
