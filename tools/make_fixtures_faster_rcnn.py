"""Generate the torchvision Faster R-CNN fixture for tests/detection/test_faster_rcnn_equivalence.cpp.

Run:  /usr/bin/python3 tools/make_fixtures_faster_rcnn.py [--out tests/data]

The model is torchvision's FasterRCNN over resnet_fpn_backbone("resnet18", norm_layer=
FrozenBatchNorm2d, returned_layers=[1, 2, 3, 4]) (the FPN on C2..C5 with LastLevelMaxPool, as
fasterrcnn_resnet50_fpn), num_classes=5 (with the background) and every other setting at its
default: anchors 32..512 x ratios 0.5, 1, 2, RPN NMS 0.7 with 1000 proposals per level and image
in eval mode, MultiScaleRoIAlign 7 x 7 with sampling ratio 2, TwoMLPHead of 1024, score 0.05,
NMS 0.5, 100 detections. Every weight and statistic is set by tools/make_fixtures_model.py's
"sin-v1" formula over our sorted state names (tools/convert_torchvision.py's mapping), extended to
fully connected weights [O, I]: 2 s / sqrt(I), the rule of a 1x1 convolution. With these weights
the box head's output hardly depends on the proposal (the class logits of different proposals
differ by ~1e-4), so the detections' scores come in runs equal to within float32 noise, whose order
(and so which box NMS keeps) rounding decides: the test compares those as sets.

The image tensor [2, 3, 64, 96] (torch.randn, seed 0) goes through the model's backbone, rpn and
roi_heads directly (not its transform), in eval mode, with image sizes (64, 96) and (50, 80). Then
the box stage runs once more on the fixture's proposals, which the C++ test also gives its second
stage, so that a near tie that float32 rounding orders differently in the first stage cannot make
the second stage's comparison fail.

tests/data/model_faster_rcnn_r18.safetensors holds
    image                      [2, 3, 64, 96]
    p5, p6                     [2, 256, H, W]           FPN outputs "3" and "pool"
    objectness.l, deltas.l     [2, 3, H, W], [2, 12, H, W]  the RPN head on P2..P6
    proposals.i                [P_i, 4]                  the RPN's proposals of image i
    pooled_sum                 [sum P_i, 7, 7]           MultiScaleRoIAlign's output summed over channels
    class_logits, box_regression  [sum P_i, 5], [sum P_i, 20]  the box predictor on those proposals
    boxes.i, scores.i, labels.i                           the detections of image i (labels i64)
Metadata: formula, state_names (JSON list of our sorted names), image_sizes, torch and torchvision
versions. Float32 on the CPU with one thread; read back and compared bit for bit after writing.
"""

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures_model import formula_tensor, set_by_formula  # noqa: E402
from safetensors_py import save_verified  # noqa: E402

IMAGE_SIZES = [(64, 96), (50, 80)]


def formula(name, shape, j):
    if name.endswith(".weight") and len(shape) == 2:
        s = torch.sin(torch.arange(math.prod(shape), dtype=torch.float64) * 0.731 + 1.37 * j)
        return (2 * s / math.sqrt(shape[1])).to(torch.float32).reshape(shape)
    return formula_tensor(name, shape, j)


def build(trainable_layers=5):
    """The fixture's model in eval mode with formula weights; returns (model, our sorted names)."""
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.models.detection.faster_rcnn import FasterRCNN
    from torchvision.ops.misc import FrozenBatchNorm2d
    backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None, norm_layer=FrozenBatchNorm2d,
                                   trainable_layers=trainable_layers, returned_layers=[1, 2, 3, 4])
    model = FasterRCNN(backbone, num_classes=5).eval()
    return model, set_by_formula(model, formula)


def out_folder(description):
    """Parses --out (default tests/data) and pins torch to one thread."""
    parser = argparse.ArgumentParser(description=description)
    default_out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
    parser.add_argument("--out", default=default_out)
    torch.set_num_threads(1)
    return parser.parse_args().out


def fixture_image():
    torch.manual_seed(0)
    return torch.randn(2, 3, 64, 96)


def main():
    out = out_folder(__doc__.splitlines()[0])
    import torchvision
    from torchvision.models.detection.image_list import ImageList
    model, names = build()
    image = fixture_image()
    images = ImageList(image, IMAGE_SIZES)
    tensors = {"image": image}
    with torch.no_grad():
        features = model.backbone(image)
        tensors["p5"], tensors["p6"] = features["3"], features["pool"]
        maps = list(features.values())
        objectness, deltas = model.rpn.head(maps)
        for level, (o, d) in enumerate(zip(objectness, deltas)):
            tensors[f"objectness.{level}"], tensors[f"deltas.{level}"] = o, d
        proposals, _ = model.rpn(images, features)
        for i, p in enumerate(proposals):
            tensors[f"proposals.{i}"] = p
        pooled = model.roi_heads.box_roi_pool(features, proposals, IMAGE_SIZES)
        tensors["pooled_sum"] = pooled.sum(dim=1)
        class_logits, box_regression = model.roi_heads.box_predictor(model.roi_heads.box_head(pooled))
        tensors["class_logits"], tensors["box_regression"] = class_logits, box_regression
        detections, _ = model.roi_heads(features, proposals, IMAGE_SIZES)
        for i, d in enumerate(detections):
            tensors[f"boxes.{i}"], tensors[f"scores.{i}"], tensors[f"labels.{i}"] = d["boxes"], d["scores"], d["labels"]
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    metadata = {"formula": "sin-v1 + linear", "state_names": json.dumps(names, separators=(",", ":")),
                "image_sizes": json.dumps(IMAGE_SIZES), "torch": torch.__version__,
                "torchvision": torchvision.__version__}
    path = os.path.join(out, "model_faster_rcnn_r18.safetensors")
    save_verified(tensors, path, metadata=metadata)
    print(f"wrote {path} ({os.path.getsize(path)} bytes): {len(names)} state tensors; proposals "
          f"{[tensors[f'proposals.{i}'].shape[0] for i in range(2)]}, detections "
          f"{[tensors[f'boxes.{i}'].shape[0] for i in range(2)]}")


if __name__ == "__main__":
    main()
