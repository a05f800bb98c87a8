// The detectors that train, eval, detect and forward run, behind one interface, chosen by
// `model.type`:
//
//   retinanet    detection/retinanet/: dense anchors on P3..P7, the targets of detection/targets.h,
//                the loss section's classification and regression losses (GHM-C, GHM-R, ...)
//   faster_rcnn  detection/faster_rcnn/: the RPN on P2..P6, RoIAlign, the box head; the losses of
//                faster_rcnn/losses.h, GHM-R as a choice for the second stage's box loss
//
// Training: loss() runs the forward pass in training mode and returns the two terms the log
// reports (cls: classification, the RPN's objectness included; reg: box regression, the RPN's
// included) and their sum. The RoI and anchor sampling of Faster R-CNN draws from a generator seeded
// by (train.seed, iteration, rank), so a resumed run samples what the uninterrupted run sampled.
// The GHM EMA states live in the caller's DetectionLossState (checkpointed): RetinaNet uses both,
// Faster R-CNN its `reg` for GHM-R.
//
// Inference: detect() in whatever mode the module is in (callers set eval), without autograd, the
// convolutions in test.precision and post-processing in float32; detections in original-image
// pixels with labels in [0, num_classes).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/precision.h"
#include "detection/retinanet/loss.h"
#include "detection/retinanet/model.h"
#include "detection/retinanet/postprocess.h"
#include "dist/communicator.h"
#include "engine/config.h"
#include "io/data_loader.h"
#include "nn/module.h"
#include "nn/resnet.h"

namespace ghm::engine {

struct DetectorLoss {
  Tensor cls, reg, total;  // [] differentiable
};

struct LossContext {
  detection::DetectionLossState& state;
  const DistConfig& dist;
  dist::Communicator& comm;
  Precision precision = Precision::F32;
  std::uint64_t seed = 0;      // train.seed
  std::int64_t iteration = 0;  // the step (0-based)
};

class Detector {
 public:
  virtual ~Detector() = default;
  virtual nn::Module& module() = 0;
  virtual const nn::Module& module() const = 0;
  virtual ModelType type() const = 0;
  virtual int num_classes() const = 0;  // foreground classes
  virtual const nn::ResNetConfig& backbone() const = 0;
  // A fresh GHM state for this detector's losses.
  virtual detection::DetectionLossState new_loss_state() const = 0;
  // The batch's images and ground truth go to the module's device.
  virtual DetectorLoss loss(const io::Batch& batch, const LossContext& c) = 0;
  virtual std::vector<detection::ImageDetections> detect(const io::Batch& batch, const TestConfig& test) = 0;
};

// RetinaNet's detections of a batch (what RetinaNet's detect() runs; bench times it on its own).
std::vector<detection::ImageDetections> retinanet_detections(detection::RetinaNet& model,
                                                             const detection::AnchorGenerator& anchors,
                                                             const io::Batch& batch, const TestConfig& test);

// The detector of `model.type`, initialised from gen (the same draws as the model alone).
std::unique_ptr<Detector> make_detector(const io::Json& config, Generator& gen);

}  // namespace ghm::engine
