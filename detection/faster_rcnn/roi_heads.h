// The second stage of Faster R-CNN at inference, as torchvision's models.detection.roi_heads
// (v0.14, fasterrcnn_resnet50_fpn): the box head and predictor on pooled proposals, and the
// detections they give. Sampling, targets and losses come with training.
//
// Box head (TwoMLPHead): x [K, C * S * S] (the pooled boxes flattened) -> ReLU(fc6) -> ReLU(fc7),
// both of `representation` (1024) outputs. Predictor (FastRCNNPredictor): cls_score [K, classes]
// and bbox_pred [K, 4 * classes] (class-specific deltas); class 0 is the background.
//
// Detections per image (postprocess_detections):
//   boxes[k, j] = decode(deltas[k, 4j .. 4j + 3], proposal k) with weights (10, 10, 5, 5)
//                 (rpn.h's decode_boxes), clipped to the image
//   scores[k, j] = softmax over j of cls_score[k]
//   every (k, j >= 1) with score > score_thresh and both sides >= 0.01 px is a candidate of class j;
//   NMS at nms_thresh within each class (batched_nms), the first detections_per_image by score.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "detection/iou.h"  // ImageSize
#include "nn/layers.h"

namespace ghm::detection {

struct RoiHeadsConfig {
  std::int64_t num_classes = 91;     // with the background (torchvision's COCO models: 91)
  std::int64_t representation = 1024;
  float score_thresh = 0.05f;
  float nms_thresh = 0.5f;
  std::int64_t detections_per_image = 100;
  std::array<float, 4> box_weights{10.f, 10.f, 5.f, 5.f};
};

class BoxHead : public nn::Module {  // torchvision's TwoMLPHead: names fc6.*, fc7.*
 public:
  BoxHead(std::int64_t in_features, std::int64_t representation, Generator& gen);
  Tensor forward(const Tensor& pooled);  // [K, C, S, S] -> [K, representation]

 private:
  std::shared_ptr<nn::Linear> fc6_, fc7_;
};

class BoxPredictor : public nn::Module {  // torchvision's FastRCNNPredictor: cls_score.*, bbox_pred.*
 public:
  BoxPredictor(std::int64_t in_features, std::int64_t num_classes, Generator& gen);
  // x [K, in] -> class logits [K, classes] and deltas [K, 4 * classes]
  void forward(const Tensor& x, Tensor& class_logits, Tensor& box_deltas);

 private:
  std::shared_ptr<nn::Linear> cls_score_, bbox_pred_;
};

struct Detections {
  Tensor boxes;   // [D, 4] (x1, y1, x2, y2), descending score
  Tensor scores;  // [D]
  Tensor labels;  // [D] i64, 1 .. classes - 1
};

// class_logits [K, classes] and box_deltas [K, 4 * classes] of the proposals of all images in
// order (proposals[i]: [K_i, 4]); image_sizes: each image's own size. Runs on the host.
std::vector<Detections> roi_detections(const Tensor& class_logits, const Tensor& box_deltas,
                                       const std::vector<Tensor>& proposals, const std::vector<ImageSize>& image_sizes,
                                       const RoiHeadsConfig& c);

}  // namespace ghm::detection
