"""Generate the Faster R-CNN training fixture for tests/detection/test_faster_rcnn_training.cpp.

Run:  /usr/bin/python3 tools/make_fixtures_faster_rcnn_train.py [--out tests/data]

The model of tools/make_fixtures_faster_rcnn.py (torchvision's FasterRCNN over a ResNet-18 FPN,
5 classes with the background, weights by the "sin-v1" formula extended to linear layers), in
training mode, with trainable_layers=0 (the whole ResNet body frozen, as our frozen_stages 4; the
FPN, the RPN and the box head train) and both samplers replaced by one that takes the FIRST positives and
negatives by index instead of a random draw (our SampleOrder::First), so that both sides sample the
same anchors and RoIs. Everything else is torchvision's default: RPN 0.7 / 0.3, 256 anchors per
image, half positive, 2000 proposals per level and image in training; RoIs 0.5, 512 per image,
25% positive, ground truth added; smooth L1 with beta 1/9; box weights (10, 10, 5, 5).

The image tensor [2, 3, 64, 96] (torch.randn, seed 0, as the inference fixture) with image sizes
(64, 96) and (50, 80) and the ground truth below goes through backbone, rpn and roi_heads directly.
A float32 run gives the proposals (stored). A float64 run of the same float32 weights and image,
with the RPN's own proposals replaced by the float32 ones, gives the reference: the four losses and
the gradient of their sum for every trainable tensor - whole when it has at most 4096 elements,
otherwise summed over all but its first dimension (grad_rows.<name>, [O]; fc6's whole gradient
would take 51 MB). Metadata torch_f32_error holds, per stored gradient, how far torch's own float32
run is from the float64 one (max |f32 - f64| / max |f64|): the scale of float32 noise here.

tests/data/model_faster_rcnn_r18_train.safetensors holds
    image [2, 3, 64, 96]; gt_boxes.i [G_i, 4], gt_labels.i [G_i] i64 (1 .. 4, torchvision's)
    proposals.i [P_i, 4]                         the float32 RPN's proposals of image i
    loss_objectness, loss_rpn_box_reg, loss_classifier, loss_box_reg   []
    grad.<name> / grad_rows.<name>               under our names
(all float32: the float64 values rounded)
Metadata: formula, state_names, image_sizes, frozen_stages, torch_f32_error (JSON), torch, torchvision.

Why the body is frozen: a gradient through a ReLU jumps where the ReLU's input crosses 0, and
float32 sums in another order than torch's move an input by about 1e-6 of its tensor's largest
value. With the body trainable, this image put one input of layer3.0's first ReLU at 9e-7 (1.7e-6
of the largest) with a gradient of 0.42 of the largest behind it: oneDNN's AVX2 kernels put it on
the other side of 0 and layer3.0.conv1's gradient moved by 8%; another image (seed 1) had such
inputs in layer4, the RPN head and fc6. Counted over every ReLU the loss's gradient passes, with
the body frozen the largest gradient behind an input within 1e-5 of 0 is 5e-3 of its ReLU's
largest (two inputs of fc6's ReLU) - below what the test's 1e-3 tolerance on the row sums can see.
The body's own gradients are compared with torchvision's by the RetinaNet tests.
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_torchvision import our_name  # noqa: E402
from make_fixtures_faster_rcnn import IMAGE_SIZES, fixture_image, out_folder  # noqa: E402
from make_fixtures_faster_rcnn import build as build_inference_model  # noqa: E402
from safetensors_py import save_verified  # noqa: E402

GT_BOXES = [
    [[10.0, 8.0, 40.0, 30.0], [50.0, 20.0, 90.0, 60.0], [30.0, 30.0, 46.0, 50.0]],
    [[5.0, 5.0, 35.0, 45.0], [40.0, 10.0, 75.0, 40.0]],
]
GT_LABELS = [[1, 3, 2], [4, 1]]
FULL_GRAD_LIMIT = 4096


class FirstSampler:
    """BalancedPositiveNegativeSampler with the first positives and negatives instead of randperm."""

    def __init__(self, batch_size_per_image, positive_fraction):
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction

    def __call__(self, matched_idxs):
        pos_idx, neg_idx = [], []
        for labels in matched_idxs:
            positive = torch.where(labels >= 1)[0]
            negative = torch.where(labels == 0)[0]
            num_pos = min(int(self.batch_size_per_image * self.positive_fraction), positive.numel())
            num_neg = min(self.batch_size_per_image - num_pos, negative.numel())
            pos_mask = torch.zeros_like(labels, dtype=torch.uint8)
            neg_mask = torch.zeros_like(labels, dtype=torch.uint8)
            pos_mask[positive[:num_pos]] = 1
            neg_mask[negative[:num_neg]] = 1
            pos_idx.append(pos_mask)
            neg_idx.append(neg_mask)
        return pos_idx, neg_idx


def build():
    model, names = build_inference_model(trainable_layers=0)
    model.train()
    for head in (model.rpn, model.roi_heads):
        head.fg_bg_sampler = FirstSampler(head.fg_bg_sampler.batch_size_per_image,
                                          head.fg_bg_sampler.positive_fraction)
    return model, names


def run(model, image, targets, proposals=None):
    """Losses of one step and the gradients (ours names -> tensor); proposals replace the RPN's."""
    from torchvision.models.detection.image_list import ImageList
    model.zero_grad()
    features = model.backbone(image)
    rpn_proposals, rpn_losses = model.rpn(ImageList(image, IMAGE_SIZES), features, targets)
    used = rpn_proposals if proposals is None else proposals
    _, roi_losses = model.roi_heads(features, used, IMAGE_SIZES, targets)
    losses = {**rpn_losses, **roi_losses}
    sum(losses.values()).backward()
    grads = {our_name(n, retinanet=True): p.grad.detach().clone()
             for n, p in model.named_parameters() if p.requires_grad}
    return rpn_proposals, {k: v.detach() for k, v in losses.items()}, grads


def stored_grad(g):
    return g if g.numel() <= FULL_GRAD_LIMIT else g.reshape(g.shape[0], -1).sum(dim=1)


def main():
    out = out_folder(__doc__.splitlines()[0])
    import torchvision
    model, names = build()
    image = fixture_image()
    targets = [{"boxes": torch.tensor(b), "labels": torch.tensor(l, dtype=torch.int64)}
               for b, l in zip(GT_BOXES, GT_LABELS)]
    proposals, _, grads32 = run(model, image, targets)
    proposals = [p.detach() for p in proposals]
    model = model.double()
    targets64 = [{"boxes": t["boxes"].double(), "labels": t["labels"]} for t in targets]
    _, losses, grads = run(model, image.double(), targets64, [p.double() for p in proposals])

    tensors = {"image": image}
    for i, t in enumerate(targets):
        tensors[f"gt_boxes.{i}"], tensors[f"gt_labels.{i}"] = t["boxes"], t["labels"]
        tensors[f"proposals.{i}"] = proposals[i]
    for k, v in losses.items():
        tensors[k] = v.reshape(())
    f32_error = {}
    for name in sorted(grads):
        ref, f32 = stored_grad(grads[name]), stored_grad(grads32[name].double())
        key = ("grad." if grads[name].numel() <= FULL_GRAD_LIMIT else "grad_rows.") + name
        tensors[key] = ref
        f32_error[key] = float((f32 - ref).abs().max() / ref.abs().max().clamp(min=1e-300))
    tensors = {k: v.float().contiguous() if v.is_floating_point() else v.contiguous() for k, v in tensors.items()}
    metadata = {"formula": "sin-v1 + linear", "state_names": json.dumps(names, separators=(",", ":")),
                "image_sizes": json.dumps(IMAGE_SIZES), "frozen_stages": "4",
                "torch_f32_error": json.dumps(f32_error),
                "torch": torch.__version__, "torchvision": torchvision.__version__}
    path = os.path.join(out, "model_faster_rcnn_r18_train.safetensors")
    save_verified(tensors, path, metadata=metadata)
    print(f"wrote {path} ({os.path.getsize(path)} bytes): losses "
          f"{ {k: round(float(v), 6) for k, v in losses.items()} }; {len(grads)} gradients, torch float32 error "
          f"up to {max(f32_error.values()):.2e}; proposals {[p.shape[0] for p in proposals]}")


if __name__ == "__main__":
    main()
