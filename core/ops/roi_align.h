// Differentiable RoIAlign (He et al., Mask R-CNN), as torchvision.ops.roi_align: every region of
// interest, given in image coordinates, is cut out of a feature map and resampled to a fixed
// out_h x out_w grid by bilinear interpolation, with no rounding of the box to the feature grid.
//
//   box on the feature map:  start = roi * spatial_scale - (aligned ? 0.5 : 0), size = end - start
//                            (without `aligned`, a size below 1 counts as 1)
//   bin (ph, pw):            size / out cells; grid_h x grid_w sample points at the centres of
//                            its sub-cells, grid = sampling_ratio > 0 ? sampling_ratio
//                                                                    : ceil(bin size) (adaptive)
//   y[k, c, ph, pw]          = mean over the bin's samples of the bilinear value of x[b_k, c] there;
//                            a sample more than one pixel outside the map counts as 0, one within
//                            a pixel of the border reads the border
//   dx                       = each sample's upstream gradient / count, spread over its four
//                            pixels with the bilinear weights; the boxes get no gradient
//
// A two-stage detector (Faster R-CNN) pools its proposals with it, one FPN level per box.
#pragma once

#include "core/tensor.h"

namespace ghm {

struct RoiAlignParams {
  int out_h = 7, out_w = 7;
  float spatial_scale = 1.0f;  // feature pixels per image pixel (1/stride)
  int sampling_ratio = -1;     // samples per bin side; <= 0: adaptive, ceil(bin size)
  bool aligned = false;        // torchvision's `aligned`: pixel centres at +0.5 (False in fasterrcnn_resnet50_fpn)
};

// At most this many samples per bin side: only a box far larger than any feature map reaches it
// (a bin of 256 feature pixels), and it bounds the work a corrupt box can ask for.
constexpr int kRoiAlignMaxGrid = 256;

// x: [N, C, H, W] f32; rois: [K, 5] f32 (batch index, x1, y1, x2, y2) on x's device. The batch
// indices must be whole numbers in [0, N) (checked on the CPU; on CUDA a box with another index
// pools zeros, so that the op never waits for the device). Returns [K, C, out_h, out_w].
Tensor roi_align(const Tensor& x, const Tensor& rois, const RoiAlignParams& p);

}  // namespace ghm
