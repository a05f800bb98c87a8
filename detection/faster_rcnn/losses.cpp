// Faster R-CNN's training losses (the math is in losses.h). Targets are matched and sampled on
// the host; the head outputs are gathered on their own device (index_select keeps the graph) and
// reduced by the fused losses.
#include "detection/faster_rcnn/losses.h"

#include <algorithm>

#include "core/check.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "losses/baselines.h"
#include "losses/softmax_ce.h"

namespace ghm::detection {
namespace {

Tensor index_tensor(const std::vector<std::int64_t>& rows, Device device) {
  return Tensor::from_vector(rows, Shape{static_cast<std::int64_t>(rows.size())}).to(device);
}

// A [] zero that keeps `x` in the graph (its gradient is 0), for a loss with nothing to sum.
Tensor zero_loss(const Tensor& x) { return sum(x) * 0.0f; }

// The per-level head outputs [N, A * k, H, W] as [N * T, k] rows: image-major, then level, then
// (y, x, a) - torchvision's concat_box_prediction_layers.
Tensor rows_per_image(const std::vector<Tensor>& per_level, std::int64_t k) {
  std::vector<Tensor> parts;
  const std::int64_t n = per_level[0].size(0);
  for (const Tensor& t : per_level) {
    const std::int64_t a = t.size(1) / k, h = t.size(2), w = t.size(3);
    parts.push_back(permute(t.reshape({n, a, k, h, w}), {0, 3, 4, 1, 2}).reshape({n, h * w * a * k}));
  }
  const Tensor all = parts.size() == 1 ? parts[0] : concat(parts, 1);
  return all.reshape({-1, k});
}

Tensor gt_boxes_on_cpu(const ImageGroundTruth& gt) {
  return gt.boxes.defined() ? gt.boxes.to(Device::cpu()) : Tensor::zeros(Shape{0, 4});
}

}  // namespace

std::string to_string(RoiBoxLoss kind) {
  switch (kind) {
    case RoiBoxLoss::SmoothL1: return "smooth_l1";
    case RoiBoxLoss::L1: return "l1";
    case RoiBoxLoss::GhmR: return "ghmr";
  }
  return "?";
}

// Long because it is compute_loss with its target assignment: per image match, label, sample and
// encode; then gather the sampled rows of the batch and apply the two losses.
RpnLoss rpn_loss(const std::vector<Tensor>& objectness, const std::vector<Tensor>& deltas, const Tensor& anchors,
                 const std::vector<ImageGroundTruth>& gts, const RpnTrainConfig& c, const Sampling& sampling) {
  GHM_CHECK(!objectness.empty() && objectness.size() == deltas.size(), "rpn_loss: ", objectness.size(),
            " objectness maps and ", deltas.size(), " delta maps");
  const std::int64_t n = objectness[0].size(0);
  GHM_CHECK(static_cast<std::int64_t>(gts.size()) == n, "rpn_loss: ", gts.size(), " ground truths for a batch of ",
            n);
  const Tensor anchors_host = anchors.to(Device::cpu());
  const std::int64_t t = anchors_host.size(0);
  std::vector<std::int64_t> pos_rows, neg_rows;
  std::vector<float> pos_targets;
  for (std::int64_t i = 0; i < n; ++i) {
    const Tensor gt = gt_boxes_on_cpu(gts[static_cast<std::size_t>(i)]);
    const std::vector<std::int64_t> matches = match_boxes(gt, anchors_host, c.matcher);
    std::vector<std::int64_t> labels(matches.size());
    for (std::size_t j = 0; j < matches.size(); ++j)
      labels[j] = gt.size(0) == 0 ? 0 : matches[j] >= 0 ? 1 : matches[j] == kBelowLow ? 0 : -1;
    const SampledIndices s = sample_balanced(labels, c.batch_per_image, c.positive_fraction, sampling);
    const auto p = static_cast<std::int64_t>(s.positive.size());
    std::vector<float> matched_gt, pos_anchors;
    const float* g = gt.data<float>();
    const float* a = anchors_host.data<float>();
    for (const std::int64_t j : s.positive) {
      const std::int64_t m = matches[static_cast<std::size_t>(j)];
      matched_gt.insert(matched_gt.end(), g + 4 * m, g + 4 * m + 4);
      pos_anchors.insert(pos_anchors.end(), a + 4 * j, a + 4 * j + 4);
      pos_rows.push_back(i * t + j);
    }
    const Tensor enc = encode_boxes(Tensor::from_vector(matched_gt, Shape{p, 4}),
                                    Tensor::from_vector(pos_anchors, Shape{p, 4}), {1.f, 1.f, 1.f, 1.f});
    const std::vector<float> e = enc.to_vector<float>();
    pos_targets.insert(pos_targets.end(), e.begin(), e.end());
    for (const std::int64_t j : s.negative) neg_rows.push_back(i * t + j);
  }
  const Tensor logits = rows_per_image(objectness, 1);  // [N * T, 1]
  const Tensor boxes = rows_per_image(deltas, 4);       // [N * T, 4]
  GHM_CHECK(logits.size(0) == n * t, "rpn_loss: the head has ", logits.size(0) / std::max<std::int64_t>(n, 1),
            " outputs per image for ", t, " anchors");
  RpnLoss out;
  out.num_pos = static_cast<std::int64_t>(pos_rows.size());
  out.num_neg = static_cast<std::int64_t>(neg_rows.size());
  const std::int64_t s = out.num_pos + out.num_neg;
  const Device device = logits.device();
  std::vector<std::int64_t> rows = pos_rows;
  rows.insert(rows.end(), neg_rows.begin(), neg_rows.end());
  std::vector<std::int64_t> labels(static_cast<std::size_t>(s), 1);  // class 0 is "object"; 1 is none
  std::fill(labels.begin(), labels.begin() + out.num_pos, 0);
  if (s == 0) {
    out.objectness = zero_loss(logits);
  } else {
    out.objectness = losses::bce_with_logits_loss(index_select(logits, 0, index_tensor(rows, device)),
                                                  index_tensor(labels, device),
                                                  Tensor::ones(Shape{s}, DType::F32, device), static_cast<double>(s));
  }
  if (out.num_pos == 0) {
    out.box = zero_loss(boxes);
  } else {
    const Tensor target = Tensor::from_vector(pos_targets, Shape{out.num_pos, 4}).to(device);
    out.box = losses::smooth_l1_loss(index_select(boxes, 0, index_tensor(pos_rows, device)), target,
                                     Tensor::ones(Shape{out.num_pos, 4}, DType::F32, device), static_cast<double>(s),
                                     c.beta);
  }
  return out;
}

// Long because it is select_training_samples in one piece: per image append the gt boxes, match,
// label, sample, and encode the samples against their matched gt.
RoiSamples sample_rois(const std::vector<Tensor>& proposals, const std::vector<ImageGroundTruth>& gts,
                       const RoiTrainConfig& c, const std::array<float, 4>& box_weights, const Sampling& sampling) {
  GHM_CHECK(proposals.size() == gts.size(), "sample_rois: ", proposals.size(), " proposal sets for ", gts.size(),
            " ground truths");
  RoiSamples out;
  std::vector<std::int64_t> all_labels;
  std::vector<float> all_targets;
  for (std::size_t i = 0; i < proposals.size(); ++i) {
    const Tensor gt = gt_boxes_on_cpu(gts[i]);
    const Tensor prop = proposals[i].detach().to(Device::cpu());
    GHM_CHECK(prop.dim() == 2 && prop.size(1) == 4, "sample_rois: proposals of image ", i, " are ", prop.shape(),
              ", not [K, 4]");
    const Tensor boxes = gt.size(0) == 0 ? prop : concat({prop, gt}, 0);
    const std::int64_t g = gt.size(0);
    std::vector<std::int64_t> gt_labels(static_cast<std::size_t>(g), 0);
    if (g > 0) gt_labels = gts[i].labels.to(Device::cpu()).to(DType::I64).to_vector<std::int64_t>();
    GHM_CHECK(static_cast<std::int64_t>(gt_labels.size()) == g, "sample_rois: image ", i, " has ", g, " boxes and ",
              gt_labels.size(), " labels");
    const std::vector<std::int64_t> matches = match_boxes(gt, boxes, c.matcher);
    std::vector<std::int64_t> labels(matches.size(), 0);
    for (std::size_t j = 0; j < matches.size() && g > 0; ++j) {
      const std::int64_t m = matches[j];
      labels[j] = m >= 0 ? gt_labels[static_cast<std::size_t>(m)] + 1 : m == kBelowLow ? 0 : -1;
    }
    const SampledIndices s = sample_balanced(labels, c.batch_per_image, c.positive_fraction, sampling);
    std::vector<std::int64_t> picked = s.positive;  // torchvision: where(pos | neg), ascending
    picked.insert(picked.end(), s.negative.begin(), s.negative.end());
    std::sort(picked.begin(), picked.end());
    const auto k = static_cast<std::int64_t>(picked.size());
    std::vector<float> rois, matched_gt;
    const float* b = boxes.data<float>();
    const float* gp = gt.data<float>();
    for (const std::int64_t j : picked) {
      rois.insert(rois.end(), b + 4 * j, b + 4 * j + 4);
      const std::int64_t m = g == 0 ? -1 : std::max<std::int64_t>(matches[static_cast<std::size_t>(j)], 0);
      if (m < 0) matched_gt.insert(matched_gt.end(), 4, 0.0f);  // torchvision's zeros(1, 4) without gt
      else matched_gt.insert(matched_gt.end(), gp + 4 * m, gp + 4 * m + 4);
      all_labels.push_back(labels[static_cast<std::size_t>(j)]);
      out.num_pos += labels[static_cast<std::size_t>(j)] > 0 ? 1 : 0;
    }
    out.proposals.push_back(Tensor::from_vector(rois, Shape{k, 4}));
    const std::vector<float> e =
        encode_boxes(Tensor::from_vector(matched_gt, Shape{k, 4}), out.proposals.back(), box_weights).to_vector<float>();
    all_targets.insert(all_targets.end(), e.begin(), e.end());
  }
  const auto s = static_cast<std::int64_t>(all_labels.size());
  out.labels = Tensor::from_vector(all_labels, Shape{s});
  out.targets = Tensor::from_vector(all_targets, Shape{s, 4});
  return out;
}

RoiLoss roi_loss(const Tensor& class_logits, const Tensor& box_deltas, const RoiSamples& samples,
                 const RoiTrainConfig& c, losses::GhmEmaState* ghm_state) {
  const std::int64_t s = samples.labels.size(0);
  GHM_CHECK(class_logits.dim() == 2 && class_logits.size(0) == s && box_deltas.dim() == 2 &&
                box_deltas.size(0) == s && box_deltas.size(1) == 4 * class_logits.size(1),
            "roi_loss: class logits ", class_logits.shape(), " and box deltas ", box_deltas.shape(), " for ", s,
            " sampled RoIs");
  const std::int64_t classes = class_logits.size(1);
  const Device device = class_logits.device();
  RoiLoss out;
  out.classifier = s == 0 ? zero_loss(class_logits)
                          : losses::softmax_cross_entropy_loss(class_logits, samples.labels.to(device),
                                                               static_cast<double>(s));
  const std::vector<std::int64_t> labels = samples.labels.to_vector<std::int64_t>();
  const std::vector<float> targets = samples.targets.to_vector<float>();
  std::vector<std::int64_t> rows;  // row r * C + label of [S * C, 4]: each positive's own class
  std::vector<float> pos_targets;
  for (std::int64_t r = 0; r < s; ++r) {
    const std::int64_t label = labels[static_cast<std::size_t>(r)];
    if (label <= 0) continue;
    GHM_CHECK(label < classes, "roi_loss: label ", label, " of RoI ", r, " is not below the ", classes, " classes");
    rows.push_back(r * classes + label);
    pos_targets.insert(pos_targets.end(), targets.begin() + 4 * r, targets.begin() + 4 * r + 4);
  }
  const auto p = static_cast<std::int64_t>(rows.size());
  // GHM-R is called even without positives (loss 0, no EMA update): in a data-parallel job with
  // dist.ghm_counts sum every process must join each call's all-reduce of the bin counts.
  if (p == 0 && c.box_loss != RoiBoxLoss::GhmR) {
    out.box = zero_loss(box_deltas);
    return out;
  }
  const Tensor pred = index_select(box_deltas.reshape(Shape{s * classes, 4}), 0, index_tensor(rows, device));
  const Tensor target = Tensor::from_vector(pos_targets, Shape{p, 4}).to(device);
  const Tensor ones = Tensor::ones(Shape{p, 4}, DType::F32, device);
  switch (c.box_loss) {
    case RoiBoxLoss::SmoothL1:
      out.box = losses::smooth_l1_loss(pred, target, ones, static_cast<double>(s), c.beta, c.box_loss_weight);
      break;
    case RoiBoxLoss::L1:
      out.box = losses::smooth_l1_loss(pred, target, ones, static_cast<double>(s), 0.0f, c.box_loss_weight);
      break;
    case RoiBoxLoss::GhmR:
      GHM_CHECK(ghm_state != nullptr, "roi_loss: GHM-R needs its EMA state");
      out.box = losses::ghm_r_loss(pred, target, ones, c.ghmr, *ghm_state);
      break;
  }
  return out;
}

}  // namespace ghm::detection
