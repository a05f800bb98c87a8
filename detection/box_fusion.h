// Fusion of one image's detections from several views of it (test-time augmentation: the image
// mirrored, or resized to other scales; engine/test_time_augmentation.h), in the spirit of Weighted
// Boxes Fusion (Solovyev, Wang, Gabruseva 2019) rather than NMS over the union:
//
//   per class k, over the detections of class k of all V views, score-descending (ties: view, then
//   rank within the view):
//     the best unclaimed detection s claims every unclaimed d of class k with IoU(s, d) >= iou,
//     itself included: one object seen by several views
//     score = (1 / V) * sum over views v of the best score among the claimed detections of view v
//             (0 for a view with none: a view that missed the object votes 0)
//     box   = sum_i score_i * box_i / sum_i score_i over the claimed detections
//   per image: the fused detections, score-descending (ties: the claiming detection's view, then
//   its rank in that view), the best `max_detections` kept.
//
// Why not NMS over the union: NMS keeps one view's box and its score, so an object found by every
// view scores as high as a false detection found by one; averaging scores over the views ranks
// the agreed ones first, and averaging boxes reduces each view's placement error.
//
// With one view and iou above that view's NMS threshold, no two detections of a class overlap that
// much, every detection claims only itself, and the result is the input (boxes, scores, order).
// IoU here is NMS's (detection/nms.h: no eps, zero-area boxes overlap nothing).
#pragma once

#include <cstdint>
#include <vector>

#include "detection/retinanet/postprocess.h"

namespace ghm::detection {

// views: one image's detections from each view, boxes in the same (original-image) pixels; V =
// views.size() >= 1. iou in (0, 1]; max_detections >= 1.
ImageDetections fuse_views(const std::vector<ImageDetections>& views, float iou, std::int64_t max_detections);

}  // namespace ghm::detection
