// The batch loss of detection_loss.h: choose, normalise, sum.
#include "detection/retinanet/loss.h"

#include "core/check.h"
#include "core/ops/elementwise.h"
#include "core/ops/shape_ops.h"
#include "losses/baselines.h"

namespace ghm::detection {
namespace {

std::span<const std::int64_t> scope_rows(losses::GhmScope scope, const std::vector<std::int64_t>& level_rows) {
  return scope == losses::GhmScope::PerLevel ? std::span<const std::int64_t>(level_rows)
                                             : std::span<const std::int64_t>();
}

Tensor classification_loss(const Tensor& cls_rows, const BatchTargets& t, const ClsLossConfig& c,
                           DetectionLossState& state, std::vector<losses::GhmCallStats>* calls) {
  const double avg = t.avg_factor;
  switch (c.kind) {
    case ClsLossKind::GhmC:
      return losses::ghm_c_loss(cls_rows, t.labels, t.label_weights, c.ghmc, state.cls, scope_rows(c.scope, t.level_rows),
                                calls);
    case ClsLossKind::GhmCExact: {
      const losses::GhmcExactParams exact{1.0 / c.ghmc.bins(), c.ghmc.loss_weight()};
      return losses::ghm_c_exact_loss(cls_rows, t.labels, t.label_weights, exact, scope_rows(c.scope, t.level_rows));
    }
    case ClsLossKind::Focal:
      return losses::sigmoid_focal_loss(cls_rows, t.labels, t.label_weights, avg, c.alpha, c.gamma, c.loss_weight);
    case ClsLossKind::CrossEntropy:
      return losses::bce_with_logits_loss(cls_rows, t.labels, t.label_weights, avg, c.loss_weight);
  }
  GHM_FAIL("detection_loss: unknown classification loss");
}

Tensor regression_loss(const Tensor& box_rows, const BatchTargets& t, const RegLossConfig& c,
                       DetectionLossState& state, std::vector<losses::GhmCallStats>* calls) {
  const Tensor index = Tensor::from_vector(t.positive_rows, {static_cast<std::int64_t>(t.positive_rows.size())})
                           .to(box_rows.device());
  const Tensor pred = index_select(box_rows, 0, index);                  // [P, 4]
  const Tensor target = index_select(t.bbox_targets, 0, index);          // [P, 4]
  const Tensor weight = index_select(t.bbox_weights, 0, index);          // [P, 4]
  const double avg = t.avg_factor;
  switch (c.kind) {
    case RegLossKind::GhmR:
      return losses::ghm_r_loss(pred, target, weight, c.ghmr, state.reg, scope_rows(c.scope, t.positive_level_rows),
                                calls);
    case RegLossKind::SmoothL1:
      return losses::smooth_l1_loss(pred, target, weight, avg, c.beta, c.loss_weight);
    case RegLossKind::Asl1:
      return losses::asl1_loss(pred, target, weight, avg, c.mu, c.loss_weight);
  }
  GHM_FAIL("detection_loss: unknown regression loss");
}

}  // namespace

std::string to_string(ClsLossKind kind) {
  switch (kind) {
    case ClsLossKind::GhmC: return "ghmc";
    case ClsLossKind::GhmCExact: return "ghmc_exact";
    case ClsLossKind::Focal: return "focal";
    case ClsLossKind::CrossEntropy: return "ce";
  }
  return "?";
}

std::string to_string(RegLossKind kind) {
  switch (kind) {
    case RegLossKind::GhmR: return "ghmr";
    case RegLossKind::SmoothL1: return "sl1";
    case RegLossKind::Asl1: return "asl1";
  }
  return "?";
}

DetectionLoss detection_loss(const Tensor& cls_rows, const Tensor& box_rows, const BatchTargets& targets,
                             const DetectionLossConfig& config, DetectionLossState& state) {
  const std::int64_t rows = targets.level_rows.empty() ? 0 : targets.level_rows.back();
  GHM_CHECK(cls_rows.dim() == 2 && cls_rows.size(0) == rows, "detection_loss: cls_rows ", cls_rows.shape(),
            " does not match the targets' ", rows, " rows");
  GHM_CHECK(box_rows.dim() == 2 && box_rows.size(0) == rows && box_rows.size(1) == 4, "detection_loss: box_rows ",
            box_rows.shape(), " must be [", rows, ", 4]");
  DetectionLoss out;
  out.cls = classification_loss(cls_rows, targets, config.cls, state, config.ghm_call_stats ? &out.cls_calls : nullptr);
  out.reg = regression_loss(box_rows, targets, config.reg, state, config.ghm_call_stats ? &out.reg_calls : nullptr);
  out.total = add(out.cls, out.reg);
  return out;
}

}  // namespace ghm::detection
