"""Generate the reference fixtures for the two-stage detector's building blocks (Faster R-CNN).

Run:  /usr/bin/python3 tools/make_fixtures_two_stage.py [--out tests/data]
Needs PyTorch and torchvision (Debian: python3-torch, python3-torchvision).

Writes tests/data/detection_<family>.safetensors for the families roi_pooler, rpn, roi_heads and
matcher,
in the layout of tools/make_fixtures_detection.py: tensors of case i are named "case<i>.<name>",
metadata "case<i>" holds the case's parameters as compact JSON and metadata "num_cases" the number
of cases. The references are torchvision's own modules (v0.14). The files are committed, so the
tests never need Python.

Per family (tensor names; params):
  roi_pooler torchvision.ops.MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2), as in
             fasterrcnn_resnet50_fpn: map<l> [N,C,H_l,W_l] for P2..P5 (strides
             4..32), boxes [K,5] (batch index, x1, y1, x2, y2; sides from 4 to 1200
             px, also beyond the image, so that every level is used), grad_output, output
             [K,C,7,7], grad_map<l>; {"image_sizes":[[h,w],...]}
  rpn        torchvision's RegionProposalNetwork as in fasterrcnn_resnet50_fpn
             (AnchorGenerator sizes 32..512, ratios 0.5, 1, 2; RPNHead with
             weights N(0, 0.3) instead of 0.01 and the conv's bias + 3, so that
             scores spread without ties and boxes move; NMS 0.7): map<l> [N,C,H_l,W_l] for P2..P6 (P6 = max_pool(P5,
             1, 2)), the head's conv.0.0.weight/bias, cls_logits.weight/bias,
             bbox_pred.weight/bias, its outputs objectness<l> [N,A,H,W] and
             deltas<l> [N,4A,H,W], anchors [T,4], and per image boxes<i> [P,4]
             and scores<i> [P] from filter_proposals; {"image_sizes",
             "padded":[h,w],"training","pre_nms_top_n","post_nms_top_n"}
  roi_heads  torchvision's TwoMLPHead and FastRCNNPredictor (weights N(0, 0.2))
             and RoIHeads.postprocess_detections (score 0.05, NMS 0.5, 100 per
             image, box weights 10, 10, 5, 5): pooled [K,C,7,7], the heads'
             fc6/fc7/cls_score/bbox_pred .weight/.bias, class_logits [K,classes], box_regression [K,4*classes], and per
             image proposals<i> [K_i,4], boxes<i>, scores<i>, labels<i> i64;
             {"image_sizes","representation","num_classes"}
"""

import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import torchvision_main  # noqa: E402


def seed_case(family, index):
    torch.manual_seed(zlib.crc32(f"{family}/{index}".encode()))


def roi_pooler_case(image_sizes, channels, boxes_per_image):
    from collections import OrderedDict
    from torchvision.ops import MultiScaleRoIAlign
    n = len(image_sizes)
    pad_h = -(-max(h for h, _ in image_sizes) // 32) * 32
    pad_w = -(-max(w for _, w in image_sizes) // 32) * 32
    maps = [torch.randn(n, channels, pad_h // s, pad_w // s, requires_grad=True) for s in (4, 8, 16, 32)]
    boxes = []
    for h, w in image_sizes:
        size = torch.exp(torch.rand(boxes_per_image, 2) * np.log(300.0)) * 4.0  # 4 to 1200 px: every level
        xy = torch.rand(boxes_per_image, 2) * torch.tensor([w, h], dtype=torch.float32)
        boxes.append(torch.cat([xy, xy + size], dim=1))
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], output_size=7, sampling_ratio=2)
    output = pooler(OrderedDict((str(i), m) for i, m in enumerate(maps)), boxes, image_sizes)
    grad_output = torch.randn(output.shape)
    output.backward(grad_output)
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], dim=1) for i, b in enumerate(boxes)])
    tensors = {"boxes": rois, "grad_output": grad_output, "output": output.detach()}
    for i, m in enumerate(maps):
        tensors[f"map{i}"] = m.detach().clone()
        tensors[f"grad_map{i}"] = m.grad
    return {"image_sizes": [list(s) for s in image_sizes]}, tensors


def rpn_case(image_sizes, channels, training, pre_nms_top_n, post_nms_top_n):
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList
    from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead, concat_box_prediction_layers
    n = len(image_sizes)
    pad_h = -(-max(h for h, _ in image_sizes) // 32) * 32
    pad_w = -(-max(w for _, w in image_sizes) // 32) * 32
    anchor_generator = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    head = RPNHead(channels, 3)
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.3)
    with torch.no_grad():  # ReLU rarely zeroes every channel: no ties of whole locations' scores
        head.conv[0][0].bias += 3.0
    top_n = dict(training=pre_nms_top_n, testing=pre_nms_top_n)
    post_n = dict(training=post_nms_top_n, testing=post_nms_top_n)
    rpn = RegionProposalNetwork(anchor_generator, head, 0.7, 0.3, 256, 0.5, top_n, post_n, 0.7)
    rpn.train(training)
    maps = [torch.randn(n, channels, pad_h // s, pad_w // s) for s in (4, 8, 16, 32)]
    maps.append(torch.nn.functional.max_pool2d(maps[-1], 1, 2, 0))
    images = ImageList(torch.zeros(n, 3, pad_h, pad_w), image_sizes)
    tensors = {}
    with torch.no_grad():
        objectness, deltas = head(maps)
        anchors = anchor_generator(images, maps)
        levels = [o[0].numel() for o in objectness]
        flat_objectness, flat_deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = rpn.box_coder.decode(flat_deltas, anchors).view(n, -1, 4)
        boxes, scores = rpn.filter_proposals(proposals, flat_objectness, images.image_sizes, levels)
    for l, m in enumerate(maps):
        tensors[f"map{l}"] = m
        tensors[f"objectness{l}"] = objectness[l]
        tensors[f"deltas{l}"] = deltas[l]
    for name, p in head.named_parameters():
        tensors[name] = p.detach()
    tensors["anchors"] = anchors[0]
    for i in range(n):
        tensors[f"boxes{i}"] = boxes[i]
        tensors[f"scores{i}"] = scores[i]
    params = {"image_sizes": [list(s) for s in image_sizes], "padded": [pad_h, pad_w], "training": training,
              "pre_nms_top_n": pre_nms_top_n, "post_nms_top_n": post_nms_top_n}
    return params, tensors


def roi_heads_case(image_sizes, proposals_per_image, channels, representation, num_classes):
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.roi_heads import RoIHeads
    from torchvision.ops import MultiScaleRoIAlign
    box_head = TwoMLPHead(channels * 49, representation)
    predictor = FastRCNNPredictor(representation, num_classes)
    for p in list(box_head.parameters()) + list(predictor.parameters()):
        torch.nn.init.normal_(p, std=0.2)
    heads = RoIHeads(MultiScaleRoIAlign(["0"], 7, 2), box_head, predictor, 0.5, 0.5, 512, 0.25, None, 0.05, 0.5, 100)
    heads.eval()
    proposals = []
    for (h, w), k in zip(image_sizes, proposals_per_image):
        xy = torch.rand(k, 2) * torch.tensor([w, h], dtype=torch.float32)
        size = torch.rand(k, 2) * 40 + 2
        proposals.append(torch.cat([xy, xy + size], dim=1))
    pooled = torch.randn(sum(proposals_per_image), channels, 7, 7)
    with torch.no_grad():
        features = box_head(pooled)
        class_logits, box_regression = predictor(features)
        boxes, scores, labels = heads.postprocess_detections(class_logits, box_regression, proposals,
                                                             [tuple(s) for s in image_sizes])
    tensors = {"pooled": pooled, "class_logits": class_logits,
               "box_regression": box_regression}
    for name, p in box_head.named_parameters():
        tensors[name] = p.detach()
    for name, p in predictor.named_parameters():
        tensors[name] = p.detach()
    for i in range(len(image_sizes)):
        tensors[f"proposals{i}"] = proposals[i]
        tensors[f"boxes{i}"], tensors[f"scores{i}"], tensors[f"labels{i}"] = boxes[i], scores[i], labels[i]
    return {"image_sizes": [list(s) for s in image_sizes], "representation": representation,
            "num_classes": num_classes}, tensors


def matcher_case(num_gt, grid, high, low, allow_low_quality, weights):
    from torchvision.models.detection._utils import BoxCoder, Matcher
    from torchvision.ops import box_iou
    ys, xs = torch.meshgrid(torch.arange(grid) * 8.0, torch.arange(grid) * 8.0, indexing="ij")
    sizes = torch.tensor([[16.0, 16.0], [24.0, 12.0], [12.0, 24.0]])
    boxes = torch.cat([torch.stack([xs.flatten(), ys.flatten(), xs.flatten() + w, ys.flatten() + h], dim=1)
                       for w, h in sizes.tolist()])
    xy = torch.floor(torch.rand(num_gt, 2) * grid * 8)
    gt = torch.cat([xy, xy + torch.floor(torch.rand(num_gt, 2) * 30 + 6)], dim=1)
    if num_gt > 1:
        gt[-1] = gt[0]  # a duplicate: its ties go to the first gt
    tensors = {"gt": gt, "boxes": boxes}
    if num_gt == 0:
        matches = torch.full((len(boxes),), -1, dtype=torch.int64)  # torchvision's callers: all background
    else:
        matches = Matcher(high, low, allow_low_quality)(box_iou(gt, boxes))
        coder = BoxCoder(weights)
        tensors["encoded"] = coder.encode_single(gt[matches.clamp(min=0)], boxes)
    tensors["matches"] = matches
    return {"high": high, "low": low, "allow_low_quality_matches": allow_low_quality, "weights": list(weights)}, tensors


ROI_POOLER_CASES = [
    lambda: roi_pooler_case([(120, 150), (100, 160)], 2, 30),
    lambda: roi_pooler_case([(64, 96)], 3, 40),
    lambda: roi_pooler_case([(96, 128), (128, 96), (64, 64)], 1, 12),
]

RPN_CASES = [
    lambda: rpn_case([(64, 90), (50, 96)], 2, False, 1000, 1000),
    lambda: rpn_case([(70, 60)], 3, True, 300, 200),
]

ROI_HEADS_CASES = [
    # More than 1000 candidates per image, where torchvision's batched_nms runs class by class as ours
    # (below, it offsets the boxes by class, whose rounding can flip a decision at the threshold).
    lambda: roi_heads_case([(120, 160), (100, 90)], [300, 280], 1, 32, 5),
    lambda: roi_heads_case([(60, 80)], [420], 1, 16, 4),
]

MATCHER_CASES = [
    lambda: matcher_case(5, 12, 0.7, 0.3, True, (1.0, 1.0, 1.0, 1.0)),   # the RPN's
    lambda: matcher_case(6, 10, 0.5, 0.5, False, (10.0, 10.0, 5.0, 5.0)),  # the second stage's
    lambda: matcher_case(4, 9, 0.6, 0.4, True, (10.0, 10.0, 5.0, 5.0)),
    lambda: matcher_case(0, 6, 0.7, 0.3, True, (1.0, 1.0, 1.0, 1.0)),
]

FAMILIES = {
    "roi_pooler": ROI_POOLER_CASES,
    "rpn": RPN_CASES,
    "roi_heads": ROI_HEADS_CASES,
    "matcher": MATCHER_CASES,
}


if __name__ == "__main__":
    torchvision_main(__doc__.splitlines()[0], "detection", FAMILIES, seed_case)
