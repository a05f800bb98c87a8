// The second stage's inference (the math is in roi_heads.h). The detections are selected on the
// host; decoding repeats torchvision's float operations in its order (no fused multiply-add here),
// the softmax and exp are within an ulp of torch's vectorised ones.
#include "detection/faster_rcnn/roi_heads.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/ops/elementwise.h"
#include "detection/faster_rcnn/rpn.h"
#include "detection/nms.h"

namespace ghm::detection {

BoxHead::BoxHead(std::int64_t in_features, std::int64_t representation, Generator& gen) {
  fc6_ = register_module("fc6", std::make_shared<nn::Linear>(in_features, representation, gen));
  fc7_ = register_module("fc7", std::make_shared<nn::Linear>(representation, representation, gen));
}

Tensor BoxHead::forward(const Tensor& pooled) {
  GHM_CHECK(pooled.dim() == 4, "BoxHead: pooled boxes must be [K, C, S, S], got ", pooled.shape());
  const Tensor flat = pooled.reshape(Shape{pooled.size(0), pooled.size(1) * pooled.size(2) * pooled.size(3)});
  return relu(fc7_->forward(relu(fc6_->forward(flat))));
}

BoxPredictor::BoxPredictor(std::int64_t in_features, std::int64_t num_classes, Generator& gen) {
  GHM_CHECK(num_classes >= 2, "BoxPredictor: ", num_classes, " classes: at least the background and one");
  cls_score_ = register_module("cls_score", std::make_shared<nn::Linear>(in_features, num_classes, gen));
  bbox_pred_ = register_module("bbox_pred", std::make_shared<nn::Linear>(in_features, num_classes * 4, gen));
}

void BoxPredictor::forward(const Tensor& x, Tensor& class_logits, Tensor& box_deltas) {
  class_logits = cls_score_->forward(x);
  box_deltas = bbox_pred_->forward(x);
}

// Long because it is torchvision's postprocess_detections in one piece: decoding, softmax, and per
// image the clipping, the filters, class-wise NMS and the final cut.
std::vector<Detections> roi_detections(const Tensor& class_logits, const Tensor& box_deltas,
                                       const std::vector<Tensor>& proposals, const std::vector<ImageSize>& image_sizes,
                                       const RoiHeadsConfig& c) {
  GHM_CHECK(class_logits.dim() == 2 && box_deltas.dim() == 2 && box_deltas.size(0) == class_logits.size(0) &&
                box_deltas.size(1) == 4 * class_logits.size(1),
            "roi_detections: class logits ", class_logits.shape(), " and deltas ", box_deltas.shape(),
            " must be [K, classes] and [K, 4 classes]");
  GHM_CHECK(proposals.size() == image_sizes.size(), "roi_detections: ", proposals.size(), " proposal sets for ",
            image_sizes.size(), " images");
  const std::int64_t k_all = class_logits.size(0), classes = class_logits.size(1);
  std::vector<float> anchors;  // each proposal repeated once per class, so one decode does them all
  for (const Tensor& p : proposals) {
    const std::vector<float> v = p.to(Device::cpu()).to_vector<float>();
    for (std::size_t r = 0; r < v.size() / 4; ++r)
      for (std::int64_t j = 0; j < classes; ++j)
        anchors.insert(anchors.end(), v.begin() + 4 * r, v.begin() + 4 * r + 4);
  }
  GHM_CHECK(static_cast<std::int64_t>(anchors.size()) == k_all * classes * 4, "roi_detections: ",
            anchors.size() / 4 / static_cast<std::size_t>(classes), " proposals for ", k_all, " rows of logits");
  const Tensor decoded = decode_boxes(box_deltas.detach().to(Device::cpu()).reshape({k_all * classes, 4}),
                                      Tensor::from_vector(anchors, Shape{k_all * classes, 4}), c.box_weights);
  const float* box = decoded.data<float>();
  const Tensor logits_host = class_logits.detach().to(Device::cpu());
  const float* logit = logits_host.data<float>();
  const Device device = class_logits.device();

  std::vector<Detections> out;
  std::int64_t row = 0;
  std::vector<float> prob(static_cast<std::size_t>(classes));
  for (std::size_t i = 0; i < proposals.size(); ++i) {
    const auto width = static_cast<float>(image_sizes[i].width), height = static_cast<float>(image_sizes[i].height);
    std::vector<float> cand_boxes, cand_scores;
    std::vector<std::int64_t> cand_labels;
    for (std::int64_t r = 0; r < proposals[i].size(0); ++r, ++row) {
      const float* l = logit + row * classes;
      const float m = *std::max_element(l, l + classes);  // softmax: exp(x - max) / sum, within an ulp of torch's
      float sum = 0.f;
      for (std::int64_t j = 0; j < classes; ++j) sum += prob[static_cast<std::size_t>(j)] = std::exp(l[j] - m);
      for (std::int64_t j = 1; j < classes; ++j) {
        const float score = prob[static_cast<std::size_t>(j)] / sum;
        const float* b = box + (row * classes + j) * 4;
        const float x1 = clip_coordinate(b[0], width), y1 = clip_coordinate(b[1], height);
        const float x2 = clip_coordinate(b[2], width), y2 = clip_coordinate(b[3], height);
        if (!(score > c.score_thresh) || !(x2 - x1 >= 1e-2f && y2 - y1 >= 1e-2f)) continue;
        cand_boxes.insert(cand_boxes.end(), {x1, y1, x2, y2});
        cand_scores.push_back(score);
        cand_labels.push_back(j);
      }
    }
    const auto n = static_cast<std::int64_t>(cand_scores.size());
    const Tensor labels_t = Tensor::from_vector(cand_labels, Shape{n});
    std::vector<std::int64_t> keep =
        batched_nms(Tensor::from_vector(cand_boxes, Shape{n, 4}), Tensor::from_vector(cand_scores, Shape{n}), labels_t,
                    c.nms_thresh)
            .to_vector<std::int64_t>();
    if (static_cast<std::int64_t>(keep.size()) > c.detections_per_image)
      keep.resize(static_cast<std::size_t>(c.detections_per_image));
    std::vector<float> boxes, scores;
    std::vector<std::int64_t> labels;
    for (const std::int64_t j : keep) {
      boxes.insert(boxes.end(), cand_boxes.begin() + 4 * j, cand_boxes.begin() + 4 * j + 4);
      scores.push_back(cand_scores[static_cast<std::size_t>(j)]);
      labels.push_back(cand_labels[static_cast<std::size_t>(j)]);
    }
    const auto d = static_cast<std::int64_t>(scores.size());
    out.push_back({Tensor::from_vector(boxes, Shape{d, 4}).to(device), Tensor::from_vector(scores, Shape{d}).to(device),
                   Tensor::from_vector(labels, Shape{d}).to(device)});
  }
  return out;
}

}  // namespace ghm::detection
