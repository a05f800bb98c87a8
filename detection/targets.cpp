// Batch targets: per-image assignment, then a scatter into the level-major layout of targets.h.
#include "detection/targets.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/ops/shape_ops.h"

namespace ghm::detection {
namespace {

std::int64_t round_up(std::int64_t v, std::int64_t divisor) { return (v + divisor - 1) / divisor * divisor; }

// Copies `count` rows of `width` elements of T from src row `from` to dst row `to`.
template <typename T>
void copy_rows(const Tensor& src, std::int64_t from, Tensor& dst, std::int64_t to, std::int64_t count,
               std::int64_t width) {
  std::memcpy(dst.data<T>() + to * width, src.data<T>() + from * width,
              static_cast<std::size_t>(count * width) * sizeof(T));
}

}  // namespace

BatchTargets batch_targets(const AnchorGenerator& generator, std::span<const FeatureSize> feature_sizes,
                           std::span<const ImageGroundTruth> images, std::int64_t num_classes,
                           const TargetConfig& config) {
  constexpr const char* op = "batch_targets";
  const int levels = generator.num_levels();
  GHM_CHECK(static_cast<int>(feature_sizes.size()) == levels, op, ": got ", feature_sizes.size(),
            " feature sizes for ", levels, " anchor levels");
  GHM_CHECK(config.size_divisor > 0, op, ": size_divisor must be positive, got ", config.size_divisor);
  const auto n_images = static_cast<std::int64_t>(images.size());
  const std::int64_t a = generator.anchors_per_location();

  // Rows per level and image, and the level offsets of the batch layout.
  std::vector<std::int64_t> per_image(static_cast<std::size_t>(levels));
  BatchTargets t;
  t.level_rows.assign(static_cast<std::size_t>(levels) + 1, 0);
  for (int l = 0; l < levels; ++l) {
    const FeatureSize f = feature_sizes[static_cast<std::size_t>(l)];
    per_image[l] = f.height * f.width * a;
    t.level_rows[l + 1] = t.level_rows[l] + n_images * per_image[l];
  }
  const std::int64_t rows = t.level_rows.back();
  t.labels = Tensor::empty({rows}, DType::I64);
  t.label_weights = Tensor::empty({rows});
  t.bbox_targets = Tensor::empty({rows, 4});
  t.bbox_weights = Tensor::empty({rows, 4});

  const MultiLevelAnchors anchors = generator.grid_anchors(feature_sizes);
  for (std::int64_t n = 0; n < n_images; ++n) {
    const ImageGroundTruth& gt = images[static_cast<std::size_t>(n)];
    GHM_CHECK(gt.size.height > 0 && gt.size.width > 0, op, ": image ", n, " has size ", gt.size.height, "x",
              gt.size.width);
    const ImageSize pad{round_up(gt.size.height, config.size_divisor), round_up(gt.size.width, config.size_divisor)};
    const Tensor valid = generator.valid_flags(feature_sizes, pad);
    const Tensor inside = anchor_inside_flags(anchors.anchors, valid, gt.size, config.allowed_border);
    const Tensor crowd = config.assigner.ignore_iof_thr > 0 ? gt.crowd_boxes : Tensor();
    const AssignResult assign = assign_anchors_max_iou(anchors.anchors, gt.boxes, crowd, inside, config.assigner);
    const AnchorTargets it = anchor_targets(anchors.anchors, assign, gt.boxes, gt.labels, num_classes, config.coder);
    t.num_pos += it.num_pos;
    t.num_neg += it.num_neg;
    t.num_total_pos += std::max<std::int64_t>(it.num_pos, 1);
    for (int l = 0; l < levels; ++l) {
      const std::int64_t from = anchors.level_begin[l], to = t.level_rows[l] + n * per_image[l], count = per_image[l];
      copy_rows<std::int64_t>(it.labels, from, t.labels, to, count, 1);
      copy_rows<float>(it.label_weights, from, t.label_weights, to, count, 1);
      copy_rows<float>(it.bbox_targets, from, t.bbox_targets, to, count, 4);
      copy_rows<float>(it.bbox_weights, from, t.bbox_weights, to, count, 4);
    }
  }

  const std::int64_t* label = t.labels.data<std::int64_t>();
  t.positive_level_rows.assign(static_cast<std::size_t>(levels) + 1, 0);
  for (int l = 0; l < levels; ++l) {
    for (std::int64_t r = t.level_rows[l]; r < t.level_rows[l + 1]; ++r)
      if (label[r] >= 0 && label[r] < num_classes) t.positive_rows.push_back(r);
    t.positive_level_rows[l + 1] = static_cast<std::int64_t>(t.positive_rows.size());
  }
  t.avg_factor = static_cast<double>(t.num_total_pos);
  return t;
}

Tensor head_rows(const std::vector<Tensor>& per_level, std::int64_t channels_per_anchor) {
  GHM_CHECK(!per_level.empty(), "head_rows: no levels");
  GHM_CHECK(channels_per_anchor > 0, "head_rows: channels_per_anchor must be positive, got ", channels_per_anchor);
  std::vector<Tensor> rows;
  rows.reserve(per_level.size());
  for (std::size_t l = 0; l < per_level.size(); ++l) {
    const Tensor& x = per_level[l];
    GHM_CHECK(x.dim() == 4 && x.size(1) % channels_per_anchor == 0, "head_rows: level ", l, " has shape ", x.shape(),
              "; expected [N, A*", channels_per_anchor, ", H, W]");
    rows.push_back(permute(x, {0, 2, 3, 1}).reshape({-1, channels_per_anchor}));
  }
  return rows.size() == 1 ? rows.front() : concat(rows, 0);
}

BatchTargets to_device(BatchTargets targets, Device device) {
  for (Tensor* t : {&targets.labels, &targets.label_weights, &targets.bbox_targets, &targets.bbox_weights})
    if (t->defined()) *t = t->to(device);
  return targets;
}

}  // namespace ghm::detection
