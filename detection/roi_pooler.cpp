// Multi-level RoIAlign (see roi_pooler.h). The level of each box is decided on the host (boxes on
// a GPU are copied back: K x 5 numbers); each level's boxes are pooled by core's roi_align, the
// pooled tensors concatenated level by level and put back in the boxes' order by one index_select,
// whose backward routes every gradient to the level it came from.
#include "detection/roi_pooler.h"

#include <cmath>

#include "core/check.h"
#include "core/ops/shape_ops.h"

namespace ghm::detection {

float infer_scale(std::int64_t map_size, std::int64_t image_size) {
  GHM_CHECK(map_size > 0 && image_size > 0, "infer_scale: sizes must be positive, got ", map_size, " and ",
            image_size);
  // torchvision: 2 ** float(torch.tensor(map / image).log2().round()), the log in float32 and
  // round half to even.
  const float ratio = static_cast<float>(static_cast<double>(map_size) / static_cast<double>(image_size));
  return std::exp2(std::nearbyint(std::log2(ratio)));
}

std::vector<int> roi_levels(const Tensor& boxes, int k_min, int k_max, const RoiPoolerConfig& c) {
  GHM_CHECK(!boxes.device().is_cuda() && boxes.dim() == 2 && boxes.size(1) == 5,
            "roi_levels: boxes must be [K, 5] on the CPU, got ", boxes.shape(), " on ", boxes.device());
  GHM_CHECK(k_min <= k_max, "roi_levels: level range [", k_min, ", ", k_max, "] is empty");
  const float* b = boxes.data<float>();
  std::vector<int> out(static_cast<std::size_t>(boxes.size(0)));
  for (std::int64_t i = 0; i < boxes.size(0); ++i) {
    const float* r = b + i * 5;
    const float s = std::sqrt((r[3] - r[1]) * (r[4] - r[2]));  // torchvision's box_area, then sqrt, in float32
    const float level = std::floor(static_cast<float>(c.canonical_level) + std::log2(s / c.canonical_scale) + 1e-6f);
    // clamp as torch.clamp; a NaN level (a box of negative area) pools from the finest map here,
    // where torchvision's cast of NaN to an integer matches no level and leaves the row zero
    const float low = static_cast<float>(k_min), high = static_cast<float>(k_max);
    const float clamped = level < low ? low : (level > high ? high : level);
    out[static_cast<std::size_t>(i)] = std::isnan(clamped) ? 0 : static_cast<int>(clamped) - k_min;
  }
  return out;
}

Tensor multi_scale_roi_align(const std::vector<Tensor>& maps, const Tensor& boxes, std::int64_t image_h,
                             std::int64_t image_w, const RoiPoolerConfig& c) {
  GHM_CHECK(!maps.empty(), "multi_scale_roi_align: no feature maps");
  GHM_CHECK(boxes.dim() == 2 && boxes.size(1) == 5, "multi_scale_roi_align: boxes must be [K, 5], got ",
            boxes.shape());
  GHM_CHECK(image_h > 0 && image_w > 0, "multi_scale_roi_align: image size ", image_h, "x", image_w,
            " must be positive");
  std::vector<float> scales;
  for (const Tensor& m : maps) {
    GHM_CHECK(m.dim() == 4 && m.size(1) == maps[0].size(1) && m.size(0) == maps[0].size(0),
              "multi_scale_roi_align: every map must be [N, C, H, W] with the first map's N and C, got ", m.shape(),
              " after ", maps[0].shape());
    scales.push_back(infer_scale(m.size(2), image_h));
  }
  const int k_min = static_cast<int>(-std::log2(scales.front())), k_max = static_cast<int>(-std::log2(scales.back()));
  GHM_CHECK(k_max - k_min + 1 == static_cast<int>(maps.size()), "multi_scale_roi_align: ", maps.size(),
            " maps span levels ", k_min, " to ", k_max, ": each map must be half the size of the one before");
  const std::int64_t k = boxes.size(0), channels = maps[0].size(1);
  const Tensor host_boxes = boxes.device().is_cuda() ? boxes.to(Device::cpu()) : boxes;
  const std::vector<int> level = roi_levels(host_boxes, k_min, k_max, c);

  // Each level's boxes, pooled; `order` lists the boxes as the pooled rows come.
  std::vector<Tensor> pooled;
  std::vector<std::int64_t> order, position(static_cast<std::size_t>(k));
  for (std::size_t l = 0; l < maps.size(); ++l) {
    std::vector<std::int64_t> members;
    for (std::int64_t i = 0; i < k; ++i)
      if (level[static_cast<std::size_t>(i)] == static_cast<int>(l)) members.push_back(i);
    if (members.empty()) continue;
    const Shape count{static_cast<std::int64_t>(members.size())};
    const Tensor index = Tensor::from_vector(members, count).to(boxes.device());
    const RoiAlignParams p{c.output_size, c.output_size, scales[l], c.sampling_ratio, c.aligned};
    pooled.push_back(roi_align(maps[l], index_select(boxes, 0, index), p));
    for (const std::int64_t i : members) {
      position[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(order.size());
      order.push_back(i);
    }
  }
  if (pooled.empty())
    return Tensor::empty(Shape{0, channels, c.output_size, c.output_size}, DType::F32, maps[0].device());
  const Tensor back = Tensor::from_vector(position, Shape{k}).to(boxes.device());
  return index_select(pooled.size() == 1 ? pooled[0] : concat(pooled, 0), 0, back);
}

}  // namespace ghm::detection
