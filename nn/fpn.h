// Feature pyramid network (Lin et al. 2017) as RetinaNet uses it: 1x1 laterals on C3..C5,
// top-down nearest upsampling to each lateral's size, 3x3 outputs P3..P5, then P6 by a stride-2
// 3x3 conv from C5 (Detectron / mmdetection "on_input") or from P5 (torchvision), and P7 by a
// stride-2 3x3 conv on ReLU(P6).
#pragma once

#include <vector>

#include "nn/layers.h"

namespace ghm::nn {

enum class P6Source { C5, P5 };

class FPN : public Module {
 public:
  // in_channels: channels of C3, C4, C5.
  FPN(const std::vector<std::int64_t>& in_channels, std::int64_t out_channels, P6Source p6_source, Generator& gen);
  std::vector<Tensor> forward(const std::vector<Tensor>& c3_to_c5);  // -> {P3, P4, P5, P6, P7}

 private:
  std::vector<std::shared_ptr<Conv2d>> lateral_, output_;
  std::shared_ptr<Conv2d> p6_, p7_;
  P6Source p6_source_;
};

}  // namespace ghm::nn
