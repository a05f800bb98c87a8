// The region proposal network's inference (the math is in rpn.h). Anchors and decoding repeat
// torchvision's float32 operations in its order (this file is compiled without fused
// multiply-add); the selection runs on the host over each image's few thousand candidates.
#include "detection/faster_rcnn/rpn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/check.h"
#include "detection/nms.h"
#include "nn/init.h"

namespace ghm::detection {
namespace {

std::shared_ptr<nn::Conv2d> rpn_conv(std::int64_t in, std::int64_t out, int kernel, Generator& gen) {
  auto conv = std::make_shared<nn::Conv2d>(in, out, kernel, 1, kernel / 2, nn::Bias::Yes, gen);
  nn::normal(conv->weight, 0.0f, 0.01f, gen);
  nn::constant(conv->bias, 0.0f);
  return conv;
}

// One image's candidates on one level: the flat indices (y * W + x) * A + a of the k highest
// logits, highest first (ties: lower index first).
std::vector<std::int64_t> top_k(const float* logits_nahw, std::int64_t a_count, std::int64_t hw, std::int64_t k) {
  const std::int64_t count = a_count * hw;
  std::vector<std::int64_t> flat(static_cast<std::size_t>(count));
  std::iota(flat.begin(), flat.end(), 0);
  const auto logit = [&](std::int64_t j) { return logits_nahw[(j % a_count) * hw + j / a_count]; };
  const auto higher = [&](std::int64_t a, std::int64_t b) {
    const float la = logit(a), lb = logit(b);
    return la > lb || (la == lb && a < b);
  };
  std::partial_sort(flat.begin(), flat.begin() + k, flat.end(), higher);
  flat.resize(static_cast<std::size_t>(k));
  return flat;
}


}  // namespace

Tensor rpn_base_anchors(float size, const std::vector<float>& ratios) {
  std::vector<float> v;
  for (const float r : ratios) {
    const float h_ratio = std::sqrt(r), w_ratio = 1.0f / h_ratio;
    const float w = w_ratio * size, h = h_ratio * size;
    for (const float x : {-w, -h, w, h}) v.push_back(std::nearbyint(x / 2.0f));  // torch.round: half to even
  }
  return Tensor::from_vector(v, Shape{static_cast<std::int64_t>(ratios.size()), 4});
}

Tensor rpn_anchors(const std::vector<FeatureSize>& maps, ImageSize padded, const RpnConfig& c) {
  GHM_CHECK(maps.size() == c.sizes.size(), "rpn_anchors: ", maps.size(), " feature maps but ", c.sizes.size(),
            " anchor sizes");
  std::vector<float> v;
  for (std::size_t l = 0; l < maps.size(); ++l) {
    const FeatureSize m = maps[l];
    GHM_CHECK(m.height > 0 && m.width > 0 && m.height <= padded.height && m.width <= padded.width,
              "rpn_anchors: map ", l, " of ", m.height, "x", m.width, " does not fit the padded image ", padded.height,
              "x", padded.width);
    const std::int64_t stride_h = padded.height / m.height, stride_w = padded.width / m.width;
    const std::vector<float> base = rpn_base_anchors(c.sizes[l], c.ratios).to_vector<float>();
    for (std::int64_t y = 0; y < m.height; ++y)
      for (std::int64_t x = 0; x < m.width; ++x) {
        const float sx = static_cast<float>(x * stride_w), sy = static_cast<float>(y * stride_h);
        for (std::size_t a = 0; a < c.ratios.size(); ++a)
          for (int k = 0; k < 4; ++k) v.push_back((k % 2 == 0 ? sx : sy) + base[a * 4 + static_cast<std::size_t>(k)]);
      }
  }
  return Tensor::from_vector(v, Shape{static_cast<std::int64_t>(v.size() / 4), 4});
}

Tensor decode_boxes(const Tensor& deltas, const Tensor& boxes, const std::array<float, 4>& weights) {
  GHM_CHECK(deltas.dim() == 2 && deltas.size(1) == 4 && deltas.shape() == boxes.shape(),
            "decode_boxes: deltas ", deltas.shape(), " and boxes ", boxes.shape(), " must both be [M, 4]");
  const float clip = static_cast<float>(std::log(1000.0 / 16));  // torchvision's bbox_xform_clip
  const Tensor d_host = deltas.to(Device::cpu()), b_host = boxes.to(Device::cpu());
  const float* d = d_host.data<float>();
  const float* b = b_host.data<float>();
  Tensor out = Tensor::empty(deltas.shape());
  float* o = out.data<float>();
  for (std::int64_t i = 0; i < deltas.size(0); ++i) {
    const float* di = d + i * 4;
    const float* bi = b + i * 4;
    const float w = bi[2] - bi[0], h = bi[3] - bi[1];
    const float cx = bi[0] + 0.5f * w, cy = bi[1] + 0.5f * h;
    const float dx = di[0] / weights[0], dy = di[1] / weights[1];
    const float dw = std::min(di[2] / weights[2], clip), dh = std::min(di[3] / weights[3], clip);
    const float px = dx * w + cx, py = dy * h + cy;
    const float half_w = 0.5f * (std::exp(dw) * w), half_h = 0.5f * (std::exp(dh) * h);
    o[i * 4 + 0] = px - half_w;
    o[i * 4 + 1] = py - half_h;
    o[i * 4 + 2] = px + half_w;
    o[i * 4 + 3] = py + half_h;
  }
  return out.to(deltas.device());
}

RpnHead::RpnHead(std::int64_t channels, std::int64_t anchors_per_location, Generator& gen) {
  GHM_CHECK(channels > 0 && anchors_per_location > 0, "RpnHead: need channels and anchors, got ", channels, " and ",
            anchors_per_location);
  auto block = std::make_shared<nn::Sequential>();
  block->add(rpn_conv(channels, channels, 3, gen));
  block->add(std::make_shared<nn::ReLU>());
  conv_ = std::make_shared<nn::Sequential>();
  conv_->add(block);
  register_module("conv", conv_);
  cls_logits_ = register_module("cls_logits", rpn_conv(channels, anchors_per_location, 1, gen));
  bbox_pred_ = register_module("bbox_pred", rpn_conv(channels, anchors_per_location * 4, 1, gen));
}

void RpnHead::forward(const std::vector<Tensor>& maps, std::vector<Tensor>& objectness, std::vector<Tensor>& deltas) {
  objectness.clear();
  deltas.clear();
  for (const Tensor& m : maps) {
    const Tensor t = conv_->forward(m);
    objectness.push_back(cls_logits_->forward(t));
    deltas.push_back(bbox_pred_->forward(t));
  }
}

// Long because it is torchvision's filter_proposals in one piece: per image, the per-level top-k,
// decoding, clipping, the size and score filters, NMS per level and the final top-k.
std::vector<Proposals> rpn_proposals(const std::vector<Tensor>& objectness, const std::vector<Tensor>& deltas,
                                     const Tensor& anchors, const std::vector<ImageSize>& image_sizes, bool training,
                                     const RpnConfig& c) {
  GHM_CHECK(!objectness.empty() && objectness.size() == deltas.size(), "rpn_proposals: ", objectness.size(),
            " objectness maps and ", deltas.size(), " delta maps");
  const std::int64_t n = objectness[0].size(0);
  GHM_CHECK(static_cast<std::int64_t>(image_sizes.size()) == n, "rpn_proposals: ", image_sizes.size(),
            " image sizes for a batch of ", n);
  GHM_CHECK(c.pre_nms_top_n_train > 0 && c.pre_nms_top_n_test > 0 && c.post_nms_top_n_train > 0 &&
                c.post_nms_top_n_test > 0,
            "rpn_proposals: the proposal counts must be positive");
  const Device device = objectness[0].device();
  std::vector<Tensor> obj, del;
  std::int64_t per_image = 0;
  for (std::size_t l = 0; l < objectness.size(); ++l) {
    const Tensor& o = objectness[l];
    const Tensor& d = deltas[l];
    GHM_CHECK(o.dim() == 4 && o.size(0) == n && d.dim() == 4 && d.size(0) == n && d.size(1) == 4 * o.size(1) &&
                  d.size(2) == o.size(2) && d.size(3) == o.size(3),
              "rpn_proposals: level ", l, " objectness ", o.shape(), " and deltas ", d.shape(), " must be [", n,
              ", A, H, W] and [", n, ", 4A, H, W]");
    per_image += o.size(1) * o.size(2) * o.size(3);
    obj.push_back(o.detach().to(Device::cpu()));
    del.push_back(d.detach().to(Device::cpu()));
  }
  GHM_CHECK(anchors.dim() == 2 && anchors.size(1) == 4 && anchors.size(0) == per_image, "rpn_proposals: anchors ",
            anchors.shape(), " for ", per_image, " head outputs per image");
  const Tensor anchors_host = anchors.to(Device::cpu());
  const float* anchor = anchors_host.data<float>();
  const std::int64_t pre_top = training ? c.pre_nms_top_n_train : c.pre_nms_top_n_test;
  const std::int64_t post_top = training ? c.post_nms_top_n_train : c.post_nms_top_n_test;

  std::vector<Proposals> out;
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<float> logits, picked_deltas, picked_anchors;
    std::vector<std::int64_t> level_of;
    std::int64_t level_offset = 0;
    for (std::size_t l = 0; l < obj.size(); ++l) {
      const std::int64_t a_count = obj[l].size(1), hw = obj[l].size(2) * obj[l].size(3);
      const float* o = obj[l].data<float>() + i * a_count * hw;
      const float* d = del[l].data<float>() + i * 4 * a_count * hw;
      for (const std::int64_t j : top_k(o, a_count, hw, std::min(pre_top, a_count * hw))) {
        const std::int64_t a = j % a_count, cell = j / a_count;
        logits.push_back(o[a * hw + cell]);
        for (int k = 0; k < 4; ++k) {
          picked_deltas.push_back(d[(a * 4 + k) * hw + cell]);
          picked_anchors.push_back(anchor[(level_offset + j) * 4 + k]);
        }
        level_of.push_back(static_cast<std::int64_t>(l));
      }
      level_offset += a_count * hw;
    }
    const auto m = static_cast<std::int64_t>(logits.size());
    const Tensor decoded = decode_boxes(Tensor::from_vector(picked_deltas, Shape{m, 4}),
                                        Tensor::from_vector(picked_anchors, Shape{m, 4}), {1.f, 1.f, 1.f, 1.f});
    const float* box = decoded.data<float>();
    const auto width = static_cast<float>(image_sizes[static_cast<std::size_t>(i)].width);
    const auto height = static_cast<float>(image_sizes[static_cast<std::size_t>(i)].height);
    std::vector<float> kept_boxes, kept_scores;
    std::vector<std::int64_t> kept_levels;
    for (std::int64_t j = 0; j < m; ++j) {
      const float x1 = clip_coordinate(box[j * 4], width), y1 = clip_coordinate(box[j * 4 + 1], height);
      const float x2 = clip_coordinate(box[j * 4 + 2], width), y2 = clip_coordinate(box[j * 4 + 3], height);
      const float score = 1.0f / (1.0f + std::exp(-logits[static_cast<std::size_t>(j)]));
      if (!(x2 - x1 >= c.min_size && y2 - y1 >= c.min_size) || !(score >= c.score_thresh)) continue;
      kept_boxes.insert(kept_boxes.end(), {x1, y1, x2, y2});
      kept_scores.push_back(score);
      kept_levels.push_back(level_of[static_cast<std::size_t>(j)]);
    }
    const auto k = static_cast<std::int64_t>(kept_scores.size());
    const Tensor boxes_t = Tensor::from_vector(kept_boxes, Shape{k, 4});
    const Tensor scores_t = Tensor::from_vector(kept_scores, Shape{k});
    const Tensor levels_t = Tensor::from_vector(kept_levels, Shape{k});
    std::vector<std::int64_t> keep = batched_nms(boxes_t, scores_t, levels_t, c.nms_thresh).to_vector<std::int64_t>();
    if (static_cast<std::int64_t>(keep.size()) > post_top) keep.resize(static_cast<std::size_t>(post_top));
    std::vector<float> final_boxes, final_scores;
    for (const std::int64_t j : keep) {
      final_boxes.insert(final_boxes.end(), kept_boxes.begin() + j * 4, kept_boxes.begin() + j * 4 + 4);
      final_scores.push_back(kept_scores[static_cast<std::size_t>(j)]);
    }
    const auto p = static_cast<std::int64_t>(final_scores.size());
    out.push_back({Tensor::from_vector(final_boxes, Shape{p, 4}).to(device),
                   Tensor::from_vector(final_scores, Shape{p}).to(device)});
  }
  return out;
}

}  // namespace ghm::detection
