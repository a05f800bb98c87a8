// The two detectors behind engine/detector.h.
#include "engine/detector.h"

#include "core/autograd.h"
#include "core/check.h"
#include "core/ops/elementwise.h"
#include "detection/faster_rcnn/model.h"
#include "detection/retinanet/model.h"
#include "detection/targets.h"
#include "engine/detection_data.h"
#include "engine/distributed.h"

namespace ghm::engine {
namespace {

std::vector<double> resize_factors(const io::Batch& batch) {
  std::vector<double> scale;
  for (const io::Sample& s : batch.samples) scale.push_back(resize_factor(s));
  return scale;
}

std::vector<detection::ImageSize> input_sizes(const io::Batch& batch) {
  std::vector<detection::ImageSize> sizes;
  for (const io::Sample& s : batch.samples) sizes.push_back(input_size(s));
  return sizes;
}

}  // namespace

std::vector<detection::ImageDetections> retinanet_detections(detection::RetinaNet& model,
                                                             const detection::AnchorGenerator& anchors,
                                                             const io::Batch& batch, const TestConfig& test) {
  NoGradGuard no_grad;
  const detection::RetinaNetOutput out = [&] {
    const AutocastScope autocast(test.precision);
    return model.forward(batch.images.to(model.device()));
  }();
  std::vector<Tensor> level_anchors;
  for (int l = 0; l < static_cast<int>(out.cls_logits.size()); ++l) {
    const Tensor& c = out.cls_logits[static_cast<std::size_t>(l)];
    level_anchors.push_back(anchors.grid_anchors(l, {c.size(2), c.size(3)}));
  }
  return detection::postprocess(out.cls_logits, out.box_deltas, level_anchors, model.config().num_classes,
                                input_sizes(batch), resize_factors(batch), test.post);
}

namespace {

class RetinaNetDetector final : public Detector {
 public:
  RetinaNetDetector(const io::Json& config, Generator& gen)
      : model_(retinanet_config(config), gen),
        anchors_(anchor_config(config)),
        targets_(target_config(data_config(config), train_config(config))),
        loss_cfg_(loss_config(config)) {}

  nn::Module& module() override { return model_; }
  const nn::Module& module() const override { return model_; }
  ModelType type() const override { return ModelType::RetinaNet; }
  int num_classes() const override { return model_.config().num_classes; }
  const nn::ResNetConfig& backbone() const override { return model_.config().backbone; }
  detection::DetectionLossState new_loss_state() const override { return detection::DetectionLossState(loss_cfg_); }

  DetectorLoss loss(const io::Batch& batch, const LossContext& c) override {
    const int k = num_classes();
    const Device device = model_.device();
    detection::RetinaNetOutput out = [&] {
      const AutocastScope autocast(c.precision);  // backward runs each op in its forward's precision
      return model_.forward(batch.images.to(device));
    }();
    // The FPN's levels are not needed any more; the head kept what its backward reads (in 16 bits
    // under bf16, core/saved_activation.h), so holding the float32 ones through the loss would only
    // add to the step's peak.
    out.features.clear();
    std::vector<detection::FeatureSize> sizes;
    for (const Tensor& level : out.cls_logits) sizes.push_back({level.size(2), level.size(3)});
    detection::BatchTargets targets =
        detection::to_device(detection::batch_targets(anchors_, sizes, ground_truth(batch), k, targets_), device);
    share_avg_factor(c.comm, c.dist, targets);
    const detection::DetectionLoss l = detection::detection_loss(
        detection::head_rows(out.cls_logits, k), detection::head_rows(out.box_deltas, 4), targets, loss_cfg_, c.state);
    return {l.cls, l.reg, l.total};
  }

  std::vector<detection::ImageDetections> detect(const io::Batch& batch, const TestConfig& test) override {
    return retinanet_detections(model_, anchors_, batch, test);
  }

 private:
  detection::RetinaNet model_;
  detection::AnchorGenerator anchors_;
  detection::TargetConfig targets_;
  detection::DetectionLossConfig loss_cfg_;
};

// The seed of one step's sampling: (train.seed, iteration, rank) mixed, so that steps and processes
// draw apart and a resumed run draws as the uninterrupted one.
std::uint64_t sampling_seed(std::uint64_t seed, std::int64_t iteration, int rank) {
  std::uint64_t x = seed ^ 0x5851f42d4c957f2dULL;
  for (const std::uint64_t v : {static_cast<std::uint64_t>(iteration), static_cast<std::uint64_t>(rank)}) {
    x = (x ^ v) * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 31;
  }
  return x;
}

class FasterRcnnDetector final : public Detector {
 public:
  FasterRcnnDetector(const io::Json& config, Generator& gen) : model_(faster_rcnn_config(config), gen) {}

  nn::Module& module() override { return model_; }
  const nn::Module& module() const override { return model_; }
  ModelType type() const override { return ModelType::FasterRcnn; }
  int num_classes() const override { return static_cast<int>(model_.config().roi.num_classes - 1); }
  const nn::ResNetConfig& backbone() const override { return model_.config().backbone; }
  detection::DetectionLossState new_loss_state() const override {
    detection::DetectionLossConfig c;
    c.reg.ghmr = model_.config().roi_train.ghmr;  // `reg` holds the second stage's GHM-R state
    return detection::DetectionLossState(c);
  }

  DetectorLoss loss(const io::Batch& batch, const LossContext& c) override {
    Generator gen(sampling_seed(c.seed, c.iteration, c.comm.rank()));
    const detection::Sampling sampling{detection::SampleOrder::Random, &gen};
    const detection::FasterRcnnLosses l = [&] {
      const AutocastScope autocast(c.precision);
      return model_.losses(batch.images.to(model_.device()), input_sizes(batch), ground_truth(batch), sampling,
                           &c.state.reg);
    }();
    return {l.objectness + l.classifier, l.rpn_box + l.box, l.total};
  }

  std::vector<detection::ImageDetections> detect(const io::Batch& batch, const TestConfig& test) override {
    NoGradGuard no_grad;
    const std::vector<detection::ImageSize> sizes = input_sizes(batch);
    const detection::FasterRcnnOutput out = [&] {
      const AutocastScope autocast(test.precision);
      return model_.forward(batch.images.to(model_.device()), sizes);
    }();
    const std::vector<double> scale = resize_factors(batch);
    std::vector<detection::ImageDetections> result;
    for (std::size_t i = 0; i < out.detections.size(); ++i) {
      const detection::Detections& d = out.detections[i];
      std::vector<float> boxes = d.boxes.to(Device::cpu()).to_vector<float>();
      for (float& v : boxes) v = static_cast<float>(v / scale[i]);
      std::vector<std::int64_t> labels = d.labels.to(Device::cpu()).to_vector<std::int64_t>();
      for (std::int64_t& l : labels) l -= 1;  // ours count from 0; the model's 0 is the background
      const auto n = static_cast<std::int64_t>(labels.size());
      result.push_back({Tensor::from_vector(boxes, Shape{n, 4}), d.scores.to(Device::cpu()),
                        Tensor::from_vector(labels, Shape{n})});
    }
    return result;
  }

 private:
  detection::FasterRcnn model_;
};

}  // namespace

std::unique_ptr<Detector> make_detector(const io::Json& config, Generator& gen) {
  if (model_type(config) == ModelType::FasterRcnn) return std::make_unique<FasterRcnnDetector>(config, gen);
  return std::make_unique<RetinaNetDetector>(config, gen);
}

}  // namespace ghm::engine
