// Test-time augmentation (`test.flip`, `test.short_sides`, `test.fusion_iou`; docs/config.md), as
// mmdetection's MultiScaleFlipAug and detectron2's TEST.AUG offer it: the detector runs on several
// views of each image and the views' detections are fused (detection/box_fusion.h) into one list.
//
//   views = test.short_sides (data.test_short_side alone when empty) x (plain, mirrored if test.flip)
//   a view of short side s resizes the original image to s, its longer side capped at
//     round(data.max_side * s / data.test_short_side) (the same cap, scaled with the view)
//   a mirrored view is the resized image mirrored within its own width (the padding stays on the
//     right, where the loader puts it); its boxes come back as x1' = w / f - x2, x2' = w / f - x1
//     in original pixels (w: the resized width, f: the factor boxes were divided by,
//     detection_data.h's resize_factor), clipped to the image
//   every view ends with the usual post-processing (score threshold, NMS, max_detections); the
//     fusion then sees each view's detections in original pixels
//
// One view (the default) is plain inference: no fusion runs, and the results are those of
// Detector::detect.
#pragma once

#include <vector>

#include "detection/retinanet/postprocess.h"
#include "engine/config.h"
#include "engine/detector.h"
#include "io/data_loader.h"

namespace ghm::engine {

struct TestScale {
  int short_side = 0;
  int max_side = 0;
};

// The distinct sizes the views are resized to, in test.short_sides' order.
std::vector<TestScale> test_scales(const TestConfig& test, const DataConfig& data);

// Views per image: sizes x (1, or 2 with test.flip).
int view_count(const TestConfig& test, const DataConfig& data);

// True when the one view is data.test_short_side unmirrored: plain inference, nothing to fuse.
bool plain_inference(const TestConfig& test, const DataConfig& data);

// The batch with each image mirrored within its own (unpadded) width; images on the CPU.
io::Batch mirrored(const io::Batch& batch);

// Detections of mirrored(batch) moved back onto the unmirrored images (in place).
void unmirror(std::vector<detection::ImageDetections>& detections, const io::Batch& batch);

// The views of one size for each image of the batch: [image][plain, mirrored if test.flip].
std::vector<std::vector<detection::ImageDetections>> detect_views_of_batch(Detector& detector, const io::Batch& batch,
                                                                           const TestConfig& test);

// One image's views fused (box_fusion.h) with test.fusion_iou and test.post.max_detections.
detection::ImageDetections fuse(const std::vector<detection::ImageDetections>& views, const TestConfig& test);

}  // namespace ghm::engine
