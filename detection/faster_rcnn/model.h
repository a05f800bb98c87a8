// Faster R-CNN (Ren et al. 2015) with an FPN, as torchvision's fasterrcnn_resnet50_fpn:
// backbone (ResNet/ResNeXt) -> FPN P2..P5 and P6 = max_pool(P5) -> the region proposal network
// on P2..P6 (rpn.h) -> multi-level RoIAlign of the proposals on P2..P5 (roi_pooler.h, 7 x 7,
// sampling ratio 2) -> box head and class-specific predictor -> detections (roi_heads.h).
//
// Names, as torchvision's after tools/convert_torchvision.py: backbone.*, fpn.lateral.{0..3}.*,
// fpn.output.{0..3}.*, rpn.head.*, roi_heads.box_head.*, roi_heads.box_predictor.*.
//
// Training (losses.h): the first stage with the training proposal counts, the RPN loss, the RoIs
// sampled from the proposals with the ground truth added, the second stage on them and its loss;
// the proposals carry no gradient (torchvision detaches them). "Equal to torchvision's" holds up to NMS decisions within rounding of the threshold:
// below 1000 candidates (CPU; 5000 on a GPU) torchvision's batched_nms offsets the boxes by class,
// whose rounding can flip such a decision, where ours runs the classes apart (detection/nms.h).
#pragma once

#include <vector>

#include "detection/faster_rcnn/losses.h"
#include "detection/faster_rcnn/roi_heads.h"
#include "detection/faster_rcnn/rpn.h"
#include "detection/roi_pooler.h"
#include "nn/fpn.h"
#include "nn/resnet.h"

namespace ghm::detection {

struct FasterRcnnConfig {
  nn::ResNetConfig backbone;
  std::int64_t width = 256;  // FPN channels
  RpnConfig rpn;
  RoiPoolerConfig pooler;
  RoiHeadsConfig roi;  // roi.num_classes counts the background
  RpnTrainConfig rpn_train;
  RoiTrainConfig roi_train;
};

struct FasterRcnnOutput {
  std::vector<Tensor> features;               // P2..P6: [N, width, H_l, W_l]
  std::vector<Tensor> objectness, rpn_deltas; // per level: [N, A, H_l, W_l], [N, 4A, H_l, W_l]
  Tensor anchors;                             // [T, 4] every level's anchors (the same for each image)
  std::vector<Proposals> proposals;           // per image
  Tensor pooled;                              // [K, width, S, S]: the proposals pooled from P2..P5
  Tensor class_logits, box_deltas;            // [K, classes], [K, 4 classes]: every image's proposals in order
  std::vector<Detections> detections;         // per image
};

struct FasterRcnnLosses {
  Tensor objectness, rpn_box;  // [] the RPN's (torchvision: loss_objectness, loss_rpn_box_reg)
  Tensor classifier, box;      // [] the second stage's (loss_classifier, loss_box_reg)
  Tensor total;                // [] their sum
  std::int64_t rpn_pos = 0, rpn_sampled = 0, roi_pos = 0, roi_sampled = 0;
};

class FasterRcnn : public nn::Module {
 public:
  FasterRcnn(const FasterRcnnConfig& config, Generator& gen);
  // images [N, 3, H, W] (normalised, padded to a multiple of 32); image_sizes: each image's own
  // size within. The proposal counts follow is_training() (rpn.pre/post_nms_top_n_train or _test).
  FasterRcnnOutput forward(const Tensor& images, const std::vector<ImageSize>& image_sizes);
  // The two stages of forward: features, the RPN's outputs and proposals; then, from the features
  // and any proposals (one [K_i, 4] per image), the second stage's logits, deltas and detections.
  FasterRcnnOutput first_stage(const Tensor& images, const std::vector<ImageSize>& image_sizes);
  void second_stage(FasterRcnnOutput& out, const std::vector<Tensor>& proposals,
                    const std::vector<ImageSize>& image_sizes);
  // One training step's losses: first_stage, then train_losses on its proposals. gts: one per
  // image, in input pixels, labels in [0, num_classes - 1); ghm_state: GHM-R's EMA state when the
  // box loss is GHM-R (else may be null).
  FasterRcnnLosses losses(const Tensor& images, const std::vector<ImageSize>& image_sizes,
                          const std::vector<ImageGroundTruth>& gts, const Sampling& sampling,
                          losses::GhmEmaState* ghm_state);
  // The losses from a first stage's output and any proposals (one [K_i, 4] per image).
  FasterRcnnLosses train_losses(const FasterRcnnOutput& first, const std::vector<Tensor>& proposals,
                                const std::vector<ImageSize>& image_sizes, const std::vector<ImageGroundTruth>& gts,
                                const Sampling& sampling, losses::GhmEmaState* ghm_state);
  const FasterRcnnConfig& config() const { return config_; }

 private:
  // The pooled proposals, the box head's logits and deltas into out.
  void box_outputs(FasterRcnnOutput& out, const std::vector<Tensor>& proposals,
                   const std::vector<ImageSize>& image_sizes);

  FasterRcnnConfig config_;
  std::shared_ptr<nn::ResNet> backbone_;
  std::shared_ptr<nn::FPN> fpn_;
  std::shared_ptr<RpnHead> rpn_head_;
  std::shared_ptr<BoxHead> box_head_;
  std::shared_ptr<BoxPredictor> box_predictor_;
};

}  // namespace ghm::detection
