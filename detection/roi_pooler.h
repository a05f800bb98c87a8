// Multi-level RoIAlign for a two-stage detector over an FPN, as torchvision's
// ops.MultiScaleRoIAlign (fasterrcnn_resnet50_fpn: P2-P5, 7 x 7, sampling ratio 2): each box is
// pooled from the one level that suits its size,
//
//   level(box) = clamp(floor(k0 + log2(sqrt(area) / s0) + 1e-6), k_min, k_max)   (FPN paper, eq. 1)
//
// with k0 = 4 and s0 = 224 (a 224-px box pools from P4), area = (x2 - x1) * (y2 - y1) in image
// pixels, and k_min, k_max the levels of the finest and coarsest map, each found from its size as
// scale = 2^round(log2(map height / image height)), level = -log2(scale).
#pragma once

#include <cstdint>
#include <vector>

#include "core/ops/roi_align.h"
#include "core/tensor.h"

namespace ghm::detection {

struct RoiPoolerConfig {
  int output_size = 7;
  int sampling_ratio = 2;
  bool aligned = false;         // torchvision's MultiScaleRoIAlign: false
  float canonical_scale = 224;  // s0
  int canonical_level = 4;      // k0
};

// The scale of a map of `map_size` pixels over an image of `image_size`: a power of two.
float infer_scale(std::int64_t map_size, std::int64_t image_size);

// The index into the maps (0 = the finest, level k_min) of each box; boxes: [K, 5] (batch index,
// x1, y1, x2, y2) on the CPU.
std::vector<int> roi_levels(const Tensor& boxes, int k_min, int k_max, const RoiPoolerConfig& c);

// maps: L feature maps [N, C, H_l, W_l], finest first, each half the size of the one before;
// boxes: [K, 5] (batch index, x1, y1, x2, y2) in pixels of images of at most image_h x image_w
// (torchvision's original_input_shape: the largest height and width of the batch), on the maps'
// device. Returns [K, C, output_size, output_size] in the boxes' order; differentiable in the maps.
Tensor multi_scale_roi_align(const std::vector<Tensor>& maps, const Tensor& boxes, std::int64_t image_h,
                             std::int64_t image_w, const RoiPoolerConfig& c);

}  // namespace ghm::detection
