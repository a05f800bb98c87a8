// Feature pyramid network (Lin et al. 2017): 1x1 laterals on the backbone's maps (C3..C5 for
// RetinaNet, C2..C5 for Faster R-CNN), top-down nearest upsampling to each lateral's size, 3x3
// outputs P3..P5 (P2..P5), then the levels above:
//   RetinaNet: P6 by a stride-2 3x3 conv from C5 (Detectron / mmdetection "on_input") or from P5
//     (torchvision), and P7 by a stride-2 3x3 conv on ReLU(P6);
//   Faster R-CNN: P6 = max_pool(P5, kernel 1, stride 2) (torchvision's LastLevelMaxPool), no P7.
// Names: lateral.{i}.*, output.{i}.* (i from the finest input), p6.*, p7.* (the convs).
#pragma once

#include <vector>

#include "nn/layers.h"

namespace ghm::nn {

enum class P6Source { C5, P5, MaxPoolP5 };

class FPN : public Module {
 public:
  // in_channels: channels of the input maps, finest first (at least two).
  FPN(const std::vector<std::int64_t>& in_channels, std::int64_t out_channels, P6Source p6_source, Generator& gen);
  // {C3, C4, C5} -> {P3, .., P7}; with MaxPoolP5, {C2, .., C5} -> {P2, .., P6}
  std::vector<Tensor> forward(const std::vector<Tensor>& maps);

 private:
  std::vector<std::shared_ptr<Conv2d>> lateral_, output_;
  std::shared_ptr<Conv2d> p6_, p7_;
  P6Source p6_source_;
};

}  // namespace ghm::nn
