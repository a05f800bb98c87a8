// MaxIoUAssigner and the anchor targets on the CPU; the rules are in assign.h.
#include "detection/assign.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/cpu/parallel.h"
#include "detection/iou.h"

namespace ghm::detection {
namespace {

constexpr std::int64_t kAnchorGrain = 8192;  // anchors per chunk (per-anchor passes and gt maxima)

void check_u8_flags(const Tensor& flags, std::int64_t rows, const char* op, const char* arg) {
  check_dtype(flags, DType::U8, op, arg);
  GHM_CHECK(flags.device().is_cpu(), op, ": ", arg, " is on ", flags.device(), "; this op runs on the CPU");
  GHM_CHECK(flags.dim() == 1 && flags.size(0) == rows, op, ": ", arg, " must be [", rows, "] like the anchors, got ",
            flags.shape());
}

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// 1 for the anchors whose IoF with some crowd box exceeds `thr` (inside anchors only).
std::vector<std::uint8_t> crowd_ignored(const float* anchor, std::int64_t a_count, const std::uint8_t* inside,
                                        const float* crowd, std::int64_t c_count, float thr) {
  std::vector<std::uint8_t> ignored(static_cast<std::size_t>(a_count), 0);
  std::vector<float> crowd_area(static_cast<std::size_t>(c_count));
  for (std::int64_t c = 0; c < c_count; ++c) crowd_area[c] = box_area(crowd + 4 * c);
  ghm::cpu::parallel_for(a_count, kAnchorGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t a = begin; a < end; ++a) {
      if (inside && !inside[a]) continue;
      const float* box = anchor + 4 * a;
      const float area = box_area(box);
      float max_iof = kMinusInf;
      for (std::int64_t c = 0; c < c_count; ++c)
        max_iof = max_of(max_iof, box_overlap(box, area, crowd + 4 * c, crowd_area[c], OverlapMode::IoF));
      ignored[a] = max_iof > thr;
    }
  });
  return ignored;
}

}  // namespace

AssignResult assign_anchors_max_iou(const Tensor& anchors, const Tensor& gt_boxes, const Tensor& crowd_boxes,
                                    const Tensor& inside_flags, const AssignerConfig& config) {
  constexpr const char* op = "assign_anchors_max_iou";
  check_boxes(anchors, op, "anchors");
  check_boxes(gt_boxes, op, "gt_boxes");
  if (crowd_boxes.defined()) check_boxes(crowd_boxes, op, "crowd_boxes");
  if (inside_flags.defined()) check_u8_flags(inside_flags, anchors.size(0), op, "inside_flags");
  GHM_CHECK(config.neg_iou_thr <= config.pos_iou_thr, op, ": neg_iou_thr (", config.neg_iou_thr,
            ") must not exceed pos_iou_thr (", config.pos_iou_thr, ")");

  const std::int64_t a_count = anchors.size(0), g_count = gt_boxes.size(0);
  const std::int64_t c_count = crowd_boxes.defined() ? crowd_boxes.size(0) : 0;
  const float* anchor = anchors.data<float>();
  const std::uint8_t* inside = inside_flags.defined() ? inside_flags.data<std::uint8_t>() : nullptr;

  AssignResult result;
  result.gt_index = Tensor::full({a_count}, static_cast<double>(kIgnoredAnchor), DType::I64);
  result.max_iou = Tensor::zeros({a_count});
  std::int64_t* gt_index = result.gt_index.data<std::int64_t>();
  float* max_iou = result.max_iou.data<float>();

  if (g_count == 0) {  // no truth: every inside anchor is background
    for (std::int64_t a = 0; a < a_count; ++a)
      if (!inside || inside[a]) gt_index[a] = kNegativeAnchor;
  } else if (a_count > 0) {
    // 0. iou [G, A] (gt-major, as mmdet's overlaps). Anchors not inside get -inf: never a maximum,
    //    never tied with one. Crowd-ignored anchors get -1.
    std::vector<float> iou(static_cast<std::size_t>(g_count * a_count));
    cpu::box_overlaps(gt_boxes.data<float>(), g_count, anchor, a_count, OverlapMode::IoU, iou.data());
    const std::vector<std::uint8_t> ignored =
        config.ignore_iof_thr > 0.f && c_count > 0
            ? crowd_ignored(anchor, a_count, inside, crowd_boxes.data<float>(), c_count, config.ignore_iof_thr)
            : std::vector<std::uint8_t>();

    // Per chunk of anchors: the masks, each anchor's max and first argmax over gts (kept in max_iou
    // and gt_index for now), and each gt's max over the chunk. Chunks are combined in order.
    const std::int64_t chunks = (a_count + kAnchorGrain - 1) / kAnchorGrain;
    std::vector<float> part_max(static_cast<std::size_t>(chunks * g_count), kMinusInf);
    ghm::cpu::parallel_for(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::int64_t a0 = c * kAnchorGrain, a1 = std::min(a_count, a0 + kAnchorGrain);
        for (std::int64_t g = 0; g < g_count; ++g) {
          float* row = iou.data() + g * a_count;
          if (inside)
            for (std::int64_t a = a0; a < a1; ++a) row[a] = inside[a] ? row[a] : kMinusInf;
          if (!ignored.empty())
            for (std::int64_t a = a0; a < a1; ++a) row[a] = ignored[a] ? -1.f : row[a];
          float m = kMinusInf;
          for (std::int64_t a = a0; a < a1; ++a) m = max_of(m, row[a]);
          part_max[c * g_count + g] = m;
        }
        std::copy(iou.begin() + a0, iou.begin() + a1, max_iou + a0);
        std::fill(gt_index + a0, gt_index + a1, 0);
        for (std::int64_t g = 1; g < g_count; ++g) {
          const float* row = iou.data() + g * a_count;
          for (std::int64_t a = a0; a < a1; ++a) {
            const bool better = row[a] > max_iou[a];  // strict: the first gt wins a tie (torch.max)
            max_iou[a] = better ? row[a] : max_iou[a];
            gt_index[a] = better ? g : gt_index[a];
          }
        }
      }
    });
    std::vector<float> gt_max(static_cast<std::size_t>(g_count), kMinusInf);
    for (std::int64_t c = 0; c < chunks; ++c)
      for (std::int64_t g = 0; g < g_count; ++g) gt_max[g] = max_of(gt_max[g], part_max[c * g_count + g]);
    // A gt whose maximum is below min_pos_iou (or -inf: no inside anchor) matches nothing in step 4.
    std::vector<std::uint8_t> gt_matches(static_cast<std::size_t>(g_count));
    for (std::int64_t g = 0; g < g_count; ++g) gt_matches[g] = gt_max[g] >= config.min_pos_iou;
    const bool low_quality = config.low_quality == LowQualityMatch::On;
    const bool all_ties = config.gt_max_assign == GtMaxAssign::AllTiedAnchors;

    ghm::cpu::parallel_for(a_count, kAnchorGrain, [&](std::int64_t begin, std::int64_t end) {
      // 1-3: ignored, negative below neg_iou_thr, positive (argmax) from pos_iou_thr.
      for (std::int64_t a = begin; a < end; ++a) {
        const float best = max_iou[a];
        std::int64_t assigned = kIgnoredAnchor;
        if (best >= 0.f && best < config.neg_iou_thr) assigned = kNegativeAnchor;
        if (best >= config.pos_iou_thr) assigned = gt_index[a];
        gt_index[a] = assigned;
      }
      // 4, all tied anchors: gts in order, so that the last tied gt wins.
      if (low_quality && all_ties)
        for (std::int64_t g = 0; g < g_count; ++g) {
          if (!gt_matches[g]) continue;
          const float* row = iou.data() + g * a_count;
          const float target = gt_max[g];
          for (std::int64_t a = begin; a < end; ++a) gt_index[a] = row[a] == target ? g : gt_index[a];
        }
    });
    // 4, first anchor only: the first anchor reaching each gt's maximum, gts in order.
    if (low_quality && !all_ties)
      for (std::int64_t g = 0; g < g_count; ++g) {
        if (!gt_matches[g]) continue;
        const float* row = iou.data() + g * a_count;
        const std::int64_t first = std::find(row, row + a_count, gt_max[g]) - row;
        gt_index[first] = g;
      }
    // Anchors not inside: ignored, max_iou 0.
    if (inside)
      for (std::int64_t a = 0; a < a_count; ++a)
        if (!inside[a]) {
          gt_index[a] = kIgnoredAnchor;
          max_iou[a] = 0.f;
        }
  }

  for (std::int64_t a = 0; a < a_count; ++a) {
    result.num_pos += gt_index[a] >= 0;
    result.num_neg += gt_index[a] == kNegativeAnchor;
  }
  return result;
}

AnchorTargets anchor_targets(const Tensor& anchors, const AssignResult& assign, const Tensor& gt_boxes,
                             const Tensor& gt_labels, std::int64_t num_classes, const BoxCoderParams& coder) {
  constexpr const char* op = "anchor_targets";
  check_boxes(anchors, op, "anchors");
  check_boxes(gt_boxes, op, "gt_boxes");
  const std::int64_t a_count = anchors.size(0), g_count = gt_boxes.size(0);
  check_defined(assign.gt_index, op, "assign.gt_index");
  check_dtype(assign.gt_index, DType::I64, op, "assign.gt_index");
  GHM_CHECK(assign.gt_index.dim() == 1 && assign.gt_index.size(0) == a_count, op, ": assign.gt_index ",
            assign.gt_index.shape(), " does not match anchors ", anchors.shape());
  check_defined(gt_labels, op, "gt_labels");
  GHM_CHECK(gt_labels.dtype() == DType::I64 || gt_labels.dtype() == DType::I32, op,
            ": gt_labels must be i64 or i32, got ", gt_labels.dtype());
  GHM_CHECK(gt_labels.dim() == 1 && gt_labels.size(0) == g_count, op, ": gt_labels ", gt_labels.shape(),
            " does not match gt_boxes ", gt_boxes.shape());
  GHM_CHECK(num_classes > 0, op, ": num_classes must be positive, got ", num_classes);
  check_box_coder_params(coder, op);
  const Tensor labels64 = gt_labels.dtype() == DType::I64 ? gt_labels : gt_labels.to(DType::I64);
  const std::int64_t* gt_label = labels64.data<std::int64_t>();
  for (std::int64_t g = 0; g < g_count; ++g)
    GHM_CHECK(gt_label[g] >= 0 && gt_label[g] < num_classes, op, ": gt_labels[", g, "] = ", gt_label[g],
              " is outside [0, ", num_classes, ")");
  const std::int64_t* gt_index = assign.gt_index.data<std::int64_t>();
  for (std::int64_t a = 0; a < a_count; ++a)
    GHM_CHECK(gt_index[a] >= kIgnoredAnchor && gt_index[a] < g_count, op, ": assign.gt_index[", a, "] = ", gt_index[a],
              " is not a gt index (", g_count, " gt boxes), -1 or -2");

  AnchorTargets t;
  t.labels = Tensor::empty({a_count}, DType::I64);
  t.label_weights = Tensor::empty({a_count});
  t.bbox_targets = Tensor::empty({a_count, 4});
  t.bbox_weights = Tensor::empty({a_count, 4});
  std::int64_t* label = t.labels.data<std::int64_t>();
  float* label_weight = t.label_weights.data<float>();
  float* target = t.bbox_targets.data<float>();
  float* box_weight = t.bbox_weights.data<float>();
  const float* anchor = anchors.data<float>();
  const float* gt = gt_boxes.data<float>();
  ghm::cpu::parallel_for(a_count, kAnchorGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t a = begin; a < end; ++a) {
      const std::int64_t g = gt_index[a];
      label[a] = g >= 0 ? gt_label[g] : num_classes;
      label_weight[a] = g >= kNegativeAnchor ? 1.f : 0.f;
      if (g >= 0) {
        encode_box_delta(anchor + 4 * a, gt + 4 * g, coder.means.data(), coder.stds.data(), target + 4 * a);
      } else {
        std::fill_n(target + 4 * a, 4, 0.f);
      }
      std::fill_n(box_weight + 4 * a, 4, g >= 0 ? 1.f : 0.f);
    }
  });
  for (std::int64_t a = 0; a < a_count; ++a) {
    t.num_pos += gt_index[a] >= 0;
    t.num_neg += gt_index[a] == kNegativeAnchor;
  }
  return t;
}

}  // namespace ghm::detection
