// What the Faster R-CNN tests against torchvision share: the ResNet-18 FPN model of
// tools/make_fixtures_faster_rcnn.py (5 classes with the background, stem and layer1 frozen) with
// every tensor set by the fixture's formula, and the fixture's image sizes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "detection/faster_rcnn/model.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "test_paths.h"
#include "tests/nn/torchvision_formula.h"

namespace ghm::test {

inline io::SafetensorsData load_faster_rcnn_fixture(const std::string& file) {
  return io::load_safetensors(::ghm::testing::test_data_dir() + "/" + file);
}

// box_loss: the second stage's (the fixtures' reference is smooth L1).
inline std::shared_ptr<detection::FasterRcnn> faster_rcnn_r18(
    const io::SafetensorsData& f, detection::RoiBoxLoss box_loss = detection::RoiBoxLoss::SmoothL1) {
  detection::FasterRcnnConfig c;
  const auto frozen = f.metadata.find("frozen_stages");  // the training fixture's; otherwise 1
  c.backbone = {18, 1, 64, nn::NormKind::FrozenBatchNorm, frozen == f.metadata.end() ? 1 : std::stoi(frozen->second)};
  c.roi.num_classes = 5;
  c.roi_train.box_loss = box_loss;
  Generator gen(7);
  auto model = std::make_shared<detection::FasterRcnn>(c, gen);
  set_model_by_formula(*model, f.metadata.at("state_names"));
  return model;
}

inline std::vector<detection::ImageSize> fixture_image_sizes(const io::SafetensorsData& f) {
  std::vector<detection::ImageSize> sizes;
  const io::Json listed = io::Json::parse(f.metadata.at("image_sizes"), "image_sizes");
  for (const io::Json& s : listed.as_array()) sizes.push_back({s.at(0).as_int(), s.at(1).as_int()});
  return sizes;
}

// The training fixture's ground truth per image (its labels count from 1, torchvision's; ours
// from 0) and its proposals ("proposals.<i>").
inline std::vector<detection::ImageGroundTruth> fixture_ground_truth(const io::SafetensorsData& f,
                                                                     const std::vector<detection::ImageSize>& sizes) {
  std::vector<detection::ImageGroundTruth> gts;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string n = std::to_string(i);
    std::vector<std::int64_t> labels = f.at("gt_labels." + n).to_vector<std::int64_t>();
    for (std::int64_t& l : labels) l -= 1;
    gts.push_back({f.at("gt_boxes." + n), Tensor::from_vector(labels, Shape{static_cast<std::int64_t>(labels.size())}),
                   Tensor(), sizes[i]});
  }
  return gts;
}

inline std::vector<Tensor> fixture_proposals(const io::SafetensorsData& f, std::size_t images) {
  std::vector<Tensor> proposals;
  for (std::size_t i = 0; i < images; ++i) proposals.push_back(f.at("proposals." + std::to_string(i)));
  return proposals;
}

}  // namespace ghm::test
