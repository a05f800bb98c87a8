// Faster R-CNN's training losses, as torchvision's RegionProposalNetwork.compute_loss and
// roi_heads.fastrcnn_loss (v0.14), with GHM-R (the paper's Table 7) as a choice for the box loss
// of the second stage. Matching and sampling: sampling.h.
//
// RPN, over every anchor of every image (no border filter, as torchvision):
//   labels: matched -> 1, below 0.3 -> 0, between -> ignored; 256 sampled per image, half positive
//   S = the sampled anchors of the batch, P = its positives
//   objectness = BCE-with-logits, mean over S
//   rpn_box    = sum over P of smoothL1_beta(delta - encode(gt, anchor)) / |S|,  beta = 1/9,
//                encoding weights (1, 1, 1, 1)
//
// Second stage, per image: the ground-truth boxes are appended to the proposals, matched at IoU
// 0.5 (no low-quality matches), and 512 sampled with at most 25% positives. S = the sampled RoIs
// of the batch, P = its positives, labels 0 (background) or the gt's class + 1:
//   classifier = softmax cross-entropy, mean over S
//   box        = over the P positives' deltas of their own class against encode(gt, roi) with
//                weights (10, 10, 5, 5):
//     smooth_l1: sum smoothL1_beta / |S|     (torchvision, beta = 1/9)
//     l1:        sum |d| / |S|
//     ghm_r:     GHM-R (losses/ghm_r.h) over the P x 4 deltas, its own normaliser tot = 4 P, times
//                its loss_weight; its EMA state is updated once per step.
//
// Layout: N images, T anchors per image, A anchors per location, C classes (with the background).
#pragma once

#include <string>
#include <vector>

#include "detection/faster_rcnn/sampling.h"
#include "detection/targets.h"  // ImageGroundTruth
#include "losses/ghm_r.h"

namespace ghm::detection {

struct RpnTrainConfig {
  MatcherConfig matcher{0.7f, 0.3f, true};
  std::int64_t batch_per_image = 256;
  double positive_fraction = 0.5;  // a double, as torchvision's Python float
  float beta = 1.0f / 9.0f;
};

enum class RoiBoxLoss { SmoothL1, L1, GhmR };
std::string to_string(RoiBoxLoss kind);

struct RoiTrainConfig {
  MatcherConfig matcher{0.5f, 0.5f, false};
  std::int64_t batch_per_image = 512;
  double positive_fraction = 0.25;
  RoiBoxLoss box_loss = RoiBoxLoss::SmoothL1;
  float beta = 1.0f / 9.0f;       // smooth_l1
  float box_loss_weight = 1.0f;   // smooth_l1 and l1 (GHM-R uses ghmr's)
  losses::GhmSettings ghmr = losses::GhmSettings::regression(0.02f, 10, 0.7, 1.0f);
};

struct RpnLoss {
  Tensor objectness, box;  // [] differentiable
  std::int64_t num_pos = 0, num_neg = 0;
};

// objectness / deltas: the head's per-level outputs [N, A, H, W] / [N, 4A, H, W]; anchors [T, 4]
// (rpn.h's rpn_anchors, the same for every image); gts: one per image (labels unused).
RpnLoss rpn_loss(const std::vector<Tensor>& objectness, const std::vector<Tensor>& deltas, const Tensor& anchors,
                 const std::vector<ImageGroundTruth>& gts, const RpnTrainConfig& c, const Sampling& sampling);

struct RoiSamples {
  std::vector<Tensor> proposals;  // per image [S_i, 4] f32 on the CPU: the sampled RoIs, ascending index
  Tensor labels;                  // [S] i64 on the CPU: 0 background, 1 .. C - 1
  Tensor targets;                 // [S, 4] f32 on the CPU: encoded against the matched gt
  std::int64_t num_pos = 0;
};

// proposals: per image [K_i, 4] (any device; detached); gts: labels in [0, C - 1).
RoiSamples sample_rois(const std::vector<Tensor>& proposals, const std::vector<ImageGroundTruth>& gts,
                       const RoiTrainConfig& c, const std::array<float, 4>& box_weights, const Sampling& sampling);

struct RoiLoss {
  Tensor classifier, box;  // [] differentiable
};

// class_logits [S, C] and box_deltas [S, 4 C]: the box head and predictor on samples.proposals.
// ghm_state: GHM-R's EMA state (bins entries), used when c.box_loss is GhmR.
RoiLoss roi_loss(const Tensor& class_logits, const Tensor& box_deltas, const RoiSamples& samples,
                 const RoiTrainConfig& c, losses::GhmEmaState* ghm_state);

}  // namespace ghm::detection
