// RetinaNet's training loss for a batch: a classification loss over all valid anchors x classes
// and a regression loss over the positive anchors, chosen by config, normalised as the reference
// (mmdetection v2 AnchorHead.loss with the GHM config) does:
//
//   classification                                 regression (positive anchors' 4 deltas)
//   ghmc   per FPN level, tot = #valid anchors*K   ghmr   per FPN level, tot = 4 * level positives
//   ghmc_exact  as ghmc, with the paper's exact
//          density (window 1/bins, no EMA)
//          (or one call over the batch: scope)            (or one call over the batch: scope)
//   focal  sum / num_total_pos                     sl1    sum / num_total_pos
//   ce     sum / num_total_pos                     asl1   sum / num_total_pos
//
// num_total_pos = sum over images of max(positives, 1) (targets.h; BatchTargets::avg_factor, which a
// data-parallel trainer may replace by its mean over the processes). The per-level GHM losses are
// summed over levels, each level's call updating the shared EMA state in order P3..P7 (the
// reference calls the loss once per level); the batch scope makes one call over all rows.
//
// Regression runs on the positive rows only (gathered with index_select): the reference passes all
// anchors with box weight 0 on the others, which contributes nothing and is only slower.
//
// Layout: R rows (targets.h), K classes, P positive rows.
#pragma once
#include <string>

#include "detection/targets.h"
#include "losses/ghm_c.h"
#include "losses/ghm_c_exact.h"
#include "losses/ghm_r.h"

namespace ghm::detection {

enum class ClsLossKind { GhmC, GhmCExact, Focal, CrossEntropy };
enum class RegLossKind { GhmR, SmoothL1, Asl1 };

struct ClsLossConfig {
  ClsLossKind kind = ClsLossKind::GhmC;
  losses::GhmSettings ghmc = losses::GhmSettings::classification(30, 0.75, 1.0f);  // ghmc; bins for ghmc_exact
  losses::GhmScope scope = losses::GhmScope::PerLevel;
  float alpha = 0.25f;  // focal
  float gamma = 2.0f;   // focal
  float loss_weight = 1.0f;  // focal and ce (GHM-C uses ghmc's)
};

struct RegLossConfig {
  RegLossKind kind = RegLossKind::GhmR;
  losses::GhmSettings ghmr = losses::GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
  losses::GhmScope scope = losses::GhmScope::PerLevel;
  float beta = 0.11f;        // smooth L1
  float mu = 0.02f;          // ASL1
  float loss_weight = 1.0f;  // sl1 and asl1 (GHM-R uses ghmr's)
};

struct DetectionLossConfig {
  ClsLossConfig cls;
  RegLossConfig reg;
  // Fill DetectionLoss::cls_calls / reg_calls (per-call bin counts and weights, for study and
  // tests). Off in training: on CUDA it costs a synchronising copy per loss.
  bool ghm_call_stats = false;
};

// The GHM EMA states (saved in checkpoints).
struct DetectionLossState {
  losses::GhmEmaState cls;
  losses::GhmEmaState reg;
  explicit DetectionLossState(const DetectionLossConfig& config = {})
      : cls(config.cls.ghmc.bins()), reg(config.reg.ghmr.bins()) {}
};

struct DetectionLoss {
  Tensor cls;    // [] differentiable
  Tensor reg;    // [] differentiable
  Tensor total;  // [] cls + reg
  std::vector<losses::GhmCallStats> cls_calls;  // GHM-C per call (empty for other losses, or without ghm_call_stats)
  std::vector<losses::GhmCallStats> reg_calls;  // GHM-R per call (likewise)
};

std::string to_string(ClsLossKind kind);
std::string to_string(RegLossKind kind);

// cls_rows: [R, K] logits and box_rows: [R, 4] deltas (head_rows of the head's outputs).
DetectionLoss detection_loss(const Tensor& cls_rows, const Tensor& box_rows, const BatchTargets& targets,
                             const DetectionLossConfig& config, DetectionLossState& state);

}  // namespace ghm::detection
