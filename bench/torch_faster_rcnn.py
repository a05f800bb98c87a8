#!/usr/bin/env python3
"""The PyTorch peer of `ghm_retinanet bench train` with model.type faster_rcnn: torchvision's
FasterRCNN, one training step (forward, the four losses, backward, SGD) or one inference (forward
+ detections).

The model is fasterrcnn_resnet50_fpn's layout built with a chosen depth: ResNet-{18,34,50,101}
with frozen batch norm, the stem and layer1 frozen (trainable_layers=3, torchvision's default),
FPN on C2..C5 with P6 = max-pool(P5), 91 outputs (90 classes and the background), random initial
weights, every other setting torchvision's default (as configs/faster_rcnn_r50_fpn_1x.yaml). Like
ours, the batch is already normalised and needs no resize, so GeneralizedRCNNTransform is bypassed:
images go straight to the backbone, then the model's own rpn and roi_heads with the targets. No
gradient clipping (torchvision's recipe, and the config's train.clip_grad 0).

The boxes are bench/torch_detection.py's (the formula of bench/train.cpp), labels + 1 (torchvision
counts the background as class 0). Compare with

  ghm_retinanet bench train --config configs/faster_rcnn_r50_fpn_1x.yaml --set model.head.num_classes=90 ...
  python3 bench/torch_faster_rcnn.py --depth 50 --mode train --batch 2 --size 512x512 --threads 2
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_detection import add_step_args, prepare, report, synthetic_targets, time_runs  # noqa: E402


def build_model(torch, depth, classes):
    import torchvision
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.faster_rcnn import FasterRCNN
    from torchvision.ops import misc as misc_nn_ops

    resnet = getattr(torchvision.models, f"resnet{depth}")(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(resnet, 3)
    return FasterRCNN(backbone, classes)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_step_args(p, classes=91)
    a = p.parse_args()

    import torch
    from torchvision.models.detection.image_list import ImageList

    baseline_mib, h, w = prepare(torch, a)
    model = build_model(torch, a.depth, a.classes)
    images = torch.randn(a.batch, 3, h, w)
    sizes = [(h, w)] * a.batch
    image_list = ImageList(images, sizes)
    targets = synthetic_targets(torch, a.batch, a.boxes, a.classes - 1, h, w)
    for t in targets:
        t["labels"] = t["labels"] + 1
    params = [q for q in model.parameters() if q.requires_grad]
    sgd = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-4)

    def train_step():
        features = model.backbone(images)
        proposals, rpn_losses = model.rpn(image_list, features, targets)
        _, roi_losses = model.roi_heads(features, proposals, sizes, targets)
        total = sum(rpn_losses.values()) + sum(roi_losses.values())
        sgd.zero_grad()
        total.backward()
        sgd.step()
        return float(total)

    def infer():
        with torch.no_grad():
            features = model.backbone(images)
            proposals, _ = model.rpn(image_list, features)
            detections, _ = model.roi_heads(features, proposals, sizes)
        return sum(int(d["scores"].numel()) for d in detections)

    model.train(a.mode == "train")
    run = train_step if a.mode == "train" else infer
    times, value = time_runs(run, a.warmup, a.repeats)
    report(a, f"torch {a.mode}: Faster R-CNN ResNet-{a.depth} FPN, {a.classes} outputs, {a.batch} x {h}x{w}, "
              f"{a.threads} threads", times, value, baseline_mib, h, w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
