#include "detection/faster_rcnn/model.h"

#include <algorithm>

#include "core/ops/elementwise.h"


namespace ghm::detection {
namespace {

// A module that only names its children: rpn.head.*, roi_heads.box_head.*, roi_heads.box_predictor.*.
class Group : public nn::Module {
 public:
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

}  // namespace

FasterRcnn::FasterRcnn(const FasterRcnnConfig& config, Generator& gen) : config_(config) {
  GHM_CHECK(config.rpn.sizes.size() == 5, "FasterRcnn: the RPN needs one anchor size per level P2..P6, got ",
            config.rpn.sizes.size());
  backbone_ = register_module("backbone", std::make_shared<nn::ResNet>(config.backbone, gen));
  fpn_ = register_module("fpn", std::make_shared<nn::FPN>(backbone_->out_channels(), config.width,
                                                          nn::P6Source::MaxPoolP5, gen));
  auto rpn = register_module("rpn", std::make_shared<Group>());
  rpn_head_ = rpn->add("head", std::make_shared<RpnHead>(config.width, config.rpn.anchors_per_location(), gen));
  auto roi = register_module("roi_heads", std::make_shared<Group>());
  const std::int64_t pooled = config.width * config.pooler.output_size * config.pooler.output_size;
  box_head_ = roi->add("box_head", std::make_shared<BoxHead>(pooled, config.roi.representation, gen));
  box_predictor_ = roi->add("box_predictor",
                            std::make_shared<BoxPredictor>(config.roi.representation, config.roi.num_classes, gen));
}

FasterRcnnOutput FasterRcnn::forward(const Tensor& images, const std::vector<ImageSize>& image_sizes) {
  FasterRcnnOutput out = first_stage(images, image_sizes);
  std::vector<Tensor> proposals;
  for (const Proposals& p : out.proposals) proposals.push_back(p.boxes);
  second_stage(out, proposals, image_sizes);
  return out;
}

FasterRcnnOutput FasterRcnn::first_stage(const Tensor& images, const std::vector<ImageSize>& image_sizes) {
  GHM_CHECK(images.dim() == 4 && static_cast<std::size_t>(images.size(0)) == image_sizes.size(),
            "FasterRcnn: images ", images.shape(), " need one size each, got ", image_sizes.size());
  FasterRcnnOutput out;
  out.features = fpn_->forward(backbone_->forward(images));
  rpn_head_->forward(out.features, out.objectness, out.rpn_deltas);
  std::vector<FeatureSize> sizes;
  for (const Tensor& f : out.features) sizes.push_back({f.size(2), f.size(3)});
  out.anchors = rpn_anchors(sizes, {images.size(2), images.size(3)}, config_.rpn);
  out.proposals = rpn_proposals(out.objectness, out.rpn_deltas, out.anchors, image_sizes, is_training(), config_.rpn);
  return out;
}

void FasterRcnn::second_stage(FasterRcnnOutput& out, const std::vector<Tensor>& proposals,
                              const std::vector<ImageSize>& image_sizes) {
  box_outputs(out, proposals, image_sizes);
  out.detections = roi_detections(out.class_logits, out.box_deltas, proposals, image_sizes, config_.roi);
}

FasterRcnnLosses FasterRcnn::losses(const Tensor& images, const std::vector<ImageSize>& image_sizes,
                                    const std::vector<ImageGroundTruth>& gts, const Sampling& sampling,
                                    losses::GhmEmaState* ghm_state) {
  const FasterRcnnOutput first = first_stage(images, image_sizes);
  std::vector<Tensor> proposals;
  for (const Proposals& p : first.proposals) proposals.push_back(p.boxes);
  return train_losses(first, proposals, image_sizes, gts, sampling, ghm_state);
}

FasterRcnnLosses FasterRcnn::train_losses(const FasterRcnnOutput& first, const std::vector<Tensor>& proposals,
                                          const std::vector<ImageSize>& image_sizes,
                                          const std::vector<ImageGroundTruth>& gts, const Sampling& sampling,
                                          losses::GhmEmaState* ghm_state) {
  FasterRcnnLosses l;
  const RpnLoss rpn = rpn_loss(first.objectness, first.rpn_deltas, first.anchors, gts, config_.rpn_train, sampling);
  l.objectness = rpn.objectness;
  l.rpn_box = rpn.box;
  l.rpn_pos = rpn.num_pos;
  l.rpn_sampled = rpn.num_pos + rpn.num_neg;
  const RoiSamples samples = sample_rois(proposals, gts, config_.roi_train, config_.roi.box_weights, sampling);
  FasterRcnnOutput second;
  second.features = first.features;
  box_outputs(second, samples.proposals, image_sizes);
  const RoiLoss roi = roi_loss(second.class_logits, second.box_deltas, samples, config_.roi_train, ghm_state);
  l.classifier = roi.classifier;
  l.box = roi.box;
  l.roi_pos = samples.num_pos;
  l.roi_sampled = samples.labels.size(0);
  l.total = l.objectness + l.rpn_box + l.classifier + l.box;
  return l;
}

void FasterRcnn::box_outputs(FasterRcnnOutput& out, const std::vector<Tensor>& proposals,
                             const std::vector<ImageSize>& image_sizes) {
  GHM_CHECK(!out.features.empty() && proposals.size() == image_sizes.size() &&
                static_cast<std::int64_t>(proposals.size()) == out.features[0].size(0),
            "FasterRcnn: ", proposals.size(), " proposal sets and ", image_sizes.size(), " image sizes for a batch of ",
            out.features.empty() ? 0 : out.features[0].size(0));
  // Every image's proposals as [K, 5] (image index, box), in image order.
  std::vector<float> rois;
  std::int64_t max_h = 0, max_w = 0;
  for (std::size_t i = 0; i < proposals.size(); ++i) {
    const std::vector<float> b = proposals[i].to(Device::cpu()).to_vector<float>();
    for (std::size_t r = 0; r < b.size() / 4; ++r)
      rois.insert(rois.end(), {static_cast<float>(i), b[4 * r], b[4 * r + 1], b[4 * r + 2], b[4 * r + 3]});
    max_h = std::max(max_h, image_sizes[i].height);
    max_w = std::max(max_w, image_sizes[i].width);
  }
  const std::vector<Tensor> levels(out.features.begin(), out.features.end() - 1);  // P2..P5
  const Device device = out.features[0].device();
  const Tensor roi_tensor = Tensor::from_vector(rois, Shape{static_cast<std::int64_t>(rois.size() / 5), 5}).to(device);
  out.pooled = multi_scale_roi_align(levels, roi_tensor, max_h, max_w, config_.pooler);
  box_predictor_->forward(box_head_->forward(out.pooled), out.class_logits, out.box_deltas);
}

}  // namespace ghm::detection
