// RetinaNet inference post-processing (torchvision's order, mmdetection's defaults):
//
//   per image, per level l:  scores = sigmoid(cls) over all (location, anchor, class);
//                            keep scores > score_thresh; keep the top `topk_per_level` (score
//                            descending, ties by index); decode their anchors' deltas; clip to
//                            the network input size
//   per image:               class-wise NMS at `nms_iou` over all levels; keep the best
//                            `max_detections`; rescale boxes to the original image and clip.
//
// Layout: cls_logits[l] [N, A*K, H, W] and box_deltas[l] [N, A*4, H, W] (the head's output);
// channel a*K + k is class k of anchor a, channel a*4 + c coordinate c; anchors[l] [H*W*A, 4] in
// (y, x, a) order (detection/anchors.h).
#pragma once

#include <vector>

#include "core/tensor.h"
#include "detection/box_coder.h"

namespace ghm::detection {

struct PostprocessConfig {
  float score_thresh = 0.05f;
  std::int64_t topk_per_level = 1000;
  float nms_iou = 0.5f;
  std::int64_t max_detections = 100;
  BoxCoderParams coder;
};

struct ImageDetections {
  Tensor boxes;   // [D, 4] x1, y1, x2, y2 in original-image pixels
  Tensor scores;  // [D], descending
  Tensor labels;  // [D] i64, in [0, K)
};

// input_size: the (unpadded) network input size of each image, for clipping; scale: the factor
// the image was resized by (original * scale = input), per image. The head's outputs may be on the
// CPU or on one GPU (there the logits are pre-filtered on the device and the few candidates finish
// on the CPU, with the same result); anchors are on the CPU; the detections are CPU tensors.
std::vector<ImageDetections> postprocess(const std::vector<Tensor>& cls_logits, const std::vector<Tensor>& box_deltas,
                                         const std::vector<Tensor>& anchors, std::int64_t num_classes,
                                         const std::vector<ImageSize>& input_size, const std::vector<double>& scale,
                                         const PostprocessConfig& config = {});

}  // namespace ghm::detection
