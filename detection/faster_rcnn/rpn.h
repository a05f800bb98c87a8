// The region proposal network of Faster R-CNN over an FPN, as torchvision's
// models.detection.rpn (v0.14, fasterrcnn_resnet50_fpn): anchors, the head, box decoding and the
// selection of proposals. Training targets and losses come later; everything here is inference.
//
// Anchors (torchvision AnchorGenerator): level l has one size s_l (32, 64, 128, 256, 512 for
// P2..P6) and the ratios r (height / width: 0.5, 1, 2):
//
//   h_ratio = sqrt(r), w_ratio = 1 / h_ratio, w = w_ratio * s, h = h_ratio * s   (float32)
//   base anchor a = round((-w, -h, w, h) / 2)                      (ratio-major, as the head's A)
//   stride = padded image side // map side (integer division, per axis)
//   anchor of cell (y, x) = base[a] + (x * stride_w, y * stride_h, x * stride_w, y * stride_h),
//   row (y * W + x) * A + a: the order of the head outputs permuted to [N, H, W, A, ...]
//
// Head: t = ReLU(conv3x3(P_l)); objectness = conv1x1(t) [N, A, H, W]; deltas = conv1x1(t)
// [N, 4A, H, W] read as [N, A, 4, H, W]; weights N(0, 0.01), biases 0; names conv.0.0.*,
// cls_logits.*, bbox_pred.* (torchvision's RPNHead).
//
// Decoding (torchvision BoxCoder, weights (wx, wy, ww, wh), (1, 1, 1, 1) in the RPN):
//   w = x2 - x1, cx = x1 + 0.5 w (likewise y), dw = min(d2 / ww, log(1000 / 16))
//   px = d0 / wx * w + cx, pw = exp(dw) * w; box = (px - 0.5 pw, py - 0.5 ph, px + 0.5 pw, py + 0.5 ph)
//
// Proposals, per image: on each level the pre_nms_top_n highest objectness logits; their boxes
// decoded, clipped to the image, those with a side below min_size dropped, and those with
// sigmoid(logit) < score_thresh; NMS at nms_thresh within each level (batched_nms, level as class);
// the first post_nms_top_n by score.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "detection/anchors.h"  // FeatureSize
#include "detection/iou.h"      // ImageSize
#include "nn/layers.h"

namespace ghm::detection {

struct RpnConfig {
  std::vector<float> sizes{32, 64, 128, 256, 512};  // one anchor size per level, finest first
  std::vector<float> ratios{0.5f, 1.0f, 2.0f};       // height / width
  int pre_nms_top_n_train = 2000, pre_nms_top_n_test = 1000;  // per level
  int post_nms_top_n_train = 2000, post_nms_top_n_test = 1000;  // per image
  float nms_thresh = 0.7f;
  float score_thresh = 0.0f;
  float min_size = 1e-3f;
  std::int64_t anchors_per_location() const { return static_cast<std::int64_t>(ratios.size()); }
};

// Base anchors [A, 4] of one size, centred on (0, 0) and rounded.
Tensor rpn_base_anchors(float size, const std::vector<float>& ratios);

// The anchors of every level, concatenated finest first: [T, 4], T = sum H_l * W_l * A. `padded`
// is the batch tensor's height and width (the strides are padded // map side).
Tensor rpn_anchors(const std::vector<FeatureSize>& maps, ImageSize padded, const RpnConfig& c);

// One coordinate clipped to [0, high] as torchvision's clip_boxes_to_image (torch.clamp: NaN stays NaN).
inline float clip_coordinate(float v, float high) { return v < 0.f ? 0.f : (v > high ? high : v); }

// torchvision's BoxCoder.decode: deltas [M, 4] against boxes [M, 4] (CPU) -> [M, 4].
Tensor decode_boxes(const Tensor& deltas, const Tensor& boxes, const std::array<float, 4>& weights);

class RpnHead : public nn::Module {
 public:
  RpnHead(std::int64_t channels, std::int64_t anchors_per_location, Generator& gen);
  // The same weights on every level: objectness [N, A, H, W] and deltas [N, 4A, H, W] per level.
  void forward(const std::vector<Tensor>& maps, std::vector<Tensor>& objectness, std::vector<Tensor>& deltas);

 private:
  std::shared_ptr<nn::Sequential> conv_;
  std::shared_ptr<nn::Conv2d> cls_logits_, bbox_pred_;
};

struct Proposals {
  Tensor boxes;   // [P, 4] (x1, y1, x2, y2), in descending score order
  Tensor scores;  // [P] sigmoid(objectness)
};

// One Proposals per image from the head's outputs (any device; selected on the host) and the
// anchors of rpn_anchors; image_sizes: each image's own size (boxes are clipped to it).
std::vector<Proposals> rpn_proposals(const std::vector<Tensor>& objectness, const std::vector<Tensor>& deltas,
                                     const Tensor& anchors, const std::vector<ImageSize>& image_sizes, bool training,
                                     const RpnConfig& c);

}  // namespace ghm::detection
