"""Generate the torchvision RetinaNet fixtures for tests/nn/test_torchvision_equivalence.cpp.

Run:  /usr/bin/python3 tools/make_fixtures_model.py [--out tests/data]

Two torchvision RetinaNets are built, every weight and batch-norm statistic is set by a formula
that the C++ test computes too (so no weights are committed), and one small image goes through
the backbone + FPN and the head's convolutions:

  retinanet_r18  RetinaNet(resnet_fpn_backbone("resnet18", norm_layer=FrozenBatchNorm2d,
                 returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)), num_classes=5)
                 FrozenBatchNorm2d is what torchvision's detection models use with pretrained
                 weights; image [2, 3, 64, 96].
  retinanet_r50  retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3)
                 With no pretrained weights torchvision 0.14 builds it with nn.BatchNorm2d, which in
                 eval() mode computes what FrozenBatchNorm2d does; image [1, 3, 64, 64].
Both take P6 from P5 (LastLevelP6P7(256, 256): in_channels == out_channels), as torchvision's
v1 RetinaNet does, and have 9 anchors per location and 256 channels in the FPN and head.

THE FORMULA (version "sin-v1"). Take our state names (tools/convert_torchvision.py maps
torchvision's onto them; num_batches_tracked has no counterpart and is left alone), sort them by
byte order, and let j = 0, 1, ... number them in that order. Element i (row-major flat index) of
tensor j is, computed in float64 and then rounded to float32, with s = sin(0.731 * i + 1.37 * j):
    conv weight [O, C/groups, KH, KW]   2 * s / sqrt(fan_in),  fan_in = C/groups * KH * KW
    batch-norm weight [C]               1 + 0.1 * s
    any bias, batch-norm running_mean   0.1 * s
    batch-norm running_var              1 + 0.5 * (1 + s) / 2          (in [1, 1.5])
The conv amplitude 2 / sqrt(fan_in) gives the weights the root-mean-square sqrt(2 / fan_in) of
He (Kaiming) initialisation, as sin has RMS 1/sqrt(2), so activations keep their scale through
conv + ReLU. With amplitude 1 / sqrt(fan_in) they halve at every conv + ReLU, and the biases
(0.1 * s) swamp what the image contributes: zeroing the image then moved the P7-level head
outputs by only ~1e-5 of their size, below the test's tolerance, so a bug upstream could pass.
With amplitude 2 zeroing the image moves every output by at least 5% of its largest value.
The image is torch.randn with seed 0 (it is stored, so the C++ side does not recompute it).

Each file tests/data/model_<name>.safetensors holds
    image                 [N, 3, H, W]
    p3 .. p7              [N, 256, H_l, W_l]       model.backbone(image), levels "0", "1", "2", "p6", "p7"
    cls.0 .. cls.4        [N, A*K, H_l, W_l]       cls_logits(conv(p_l)) of head.classification_head
    box.0 .. box.4        [N, A*4, H_l, W_l]       bbox_reg(conv(p_l)) of head.regression_head
i.e. the head outputs before torchvision's permute/reshape to [N, H*W*A, K]. Metadata: depth,
num_classes, anchors, width, p6 ("P5"), norm, formula ("sin-v1"), state_names (the JSON list of
our sorted names, so the test can check that its model has exactly these tensors), and the torch
and torchvision versions. Computed in float32 on the CPU with one thread; the script also prints
how far these float32 results are from a float64 run of the same model, the scale of the
rounding noise the C++ test's tolerance must allow for. After writing, each file is read back
and compared bit for bit.

THE GRADIENT FIXTURE tests/data/model_grad_r18_train.safetensors (for
tests/nn/test_torchvision_gradients.cpp): the backward pass of the whole model with nn.BatchNorm2d
in TRAINING mode (batch statistics; model.train()). The model is the R18 one above with
nn.BatchNorm2d instead of FrozenBatchNorm2d and a narrower FPN/head, width 64 (torchvision's
BackboneWithFPN(resnet18(norm_layer=nn.BatchNorm2d), {"layer2": "0", "layer3": "1", "layer4": "2"},
[128, 256, 512], 64, LastLevelP6P7(64, 64)) under RetinaNet(backbone, 5); every parameter
trainable), so that the stored gradients stay under 1.5 MB: at width 256 the listed FPN and head
gradients alone take 7 MB. Weights and statistics by "sin-v1"; image [2, 3, 64, 64], torch.randn
with seed 0. The loss is, over the levels l = 0..4 (P3..P7),
    L = sum_l  sum(cls_l * Rc_l) + sum(box_l * Rb_l),
with cls_l [N, A*K, H_l, W_l] and box_l [N, A*4, H_l, W_l] the head outputs as above, and for
element i (row-major flat index) of level l, computed in float64 and rounded to float32,
    Rc_l[i] = sin(0.917 * i + 2.1 * l + 0.3)        Rb_l[i] = cos(0.917 * i + 2.1 * l + 0.3).
The file holds image, loss [1] and grad.<our name> for the parameters in GRAD_PARAMS, computed in
float64 (the model and image converted by .double(), so from the same float32 weights, image and
R) and rounded to float32: the exact gradient, not one float32 summation order. Metadata: as
above (norm "BatchNorm2d", mode "train"), loss_f64 (repr of the float64 loss), and two JSON objects
{"loss": relative error of the loss, <name>: max|g32 - g64| / max|g64|, ...} measuring torch's own
float32 run against the stored float64 values: torch_f32_error for the stored image, and
torch_f32_worst, the largest over PERTURBED_RUNS float32 runs on the image with every element moved
by -1, 0 or +1 ulp (at random, seed 1), which draws other float32 rounding, as another float32
implementation would. This is the noise any float32 implementation shows here, and it is large
(~3e-2 typical, up to ~0.13 in the backbone): a ReLU or max-pool decision on an input within
~1e-5 of 0 (or of a tie) comes out differently in float32 and float64 (4-6 of the ~465k ReLU
inputs), and each flip adds or removes one position's term of a weight gradient, i.e.
~1/sqrt(#positions summed) of it; on top, batch statistics over the 8 values per channel of
layer4 amplify rounding ~20 times, so that even with every decision the same, float32 gradients
are ~3e-4..1e-3 from float64. The test's tolerances (and why) are in
tests/nn/test_torchvision_gradients.cpp.
"""

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_torchvision import DROPPED, our_name  # noqa: E402
from safetensors_py import save_verified  # noqa: E402

FORMULA = "sin-v1"
WIDTH = 256
ANCHORS = 9


def formula_tensor(name, shape, j):
    """Tensor j (in sorted order of our names) of the given shape, by the formula above."""
    numel = math.prod(shape)
    s = torch.sin(torch.arange(numel, dtype=torch.float64) * 0.731 + 1.37 * j)
    if name.endswith(".running_var"):
        value = 1 + 0.5 * (1 + s) / 2
    elif name.endswith((".bias", ".running_mean")):
        value = 0.1 * s
    elif name.endswith(".weight") and len(shape) == 4:
        value = 2 * s / math.sqrt(shape[1] * shape[2] * shape[3])
    elif name.endswith(".weight") and len(shape) == 1:
        value = 1 + 0.1 * s
    else:
        raise ValueError(f"no formula for {name} {list(shape)}")
    return value.to(torch.float32).reshape(shape)


def set_by_formula(model, formula=formula_tensor):
    """Sets every tensor of model.state_dict() that we keep by `formula`; returns our sorted names."""
    state = model.state_dict()  # shares storage with the model
    ours = {}
    for tv_name in state:
        name = our_name(tv_name, retinanet=True)
        if name is None:
            raise ValueError(f"unmapped torchvision key {tv_name}")
        if name != DROPPED:
            ours[name] = tv_name
    names = sorted(ours)
    with torch.no_grad():
        for j, name in enumerate(names):
            target = state[ours[name]]
            target.copy_(formula(name, tuple(target.shape), j))
    return names


def build_r18(num_classes):
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.models.detection.retinanet import RetinaNet
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7
    from torchvision.ops.misc import FrozenBatchNorm2d
    backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None, norm_layer=FrozenBatchNorm2d,
                                   trainable_layers=5, returned_layers=[2, 3, 4],
                                   extra_blocks=LastLevelP6P7(WIDTH, WIDTH))
    return RetinaNet(backbone, num_classes)


def build_r50(num_classes):
    from torchvision.models.detection import retinanet_resnet50_fpn
    return retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes)


def run(model, image):
    """{"p3".."p7", "cls.l", "box.l"} through model.backbone and the head's convs, per level."""
    out = {}
    with torch.no_grad():
        features = list(model.backbone(image).values())  # "0", "1", "2" (P3..P5), "p6", "p7"
        cls_head, box_head = model.head.classification_head, model.head.regression_head
        for level, feature in enumerate(features):
            out[f"p{level + 3}"] = feature
        for level, feature in enumerate(features):
            out[f"cls.{level}"] = cls_head.cls_logits(cls_head.conv(feature))
        for level, feature in enumerate(features):
            out[f"box.{level}"] = box_head.bbox_reg(box_head.conv(feature))
    return out


def make(name, depth, build, num_classes, image_shape, out_dir):
    import torchvision
    model = build(num_classes).eval()
    norm = type(model.backbone.body.bn1).__name__
    names = set_by_formula(model)
    torch.manual_seed(0)
    image = torch.randn(image_shape)
    outputs = run(model, image)

    blank = run(model, torch.zeros(image_shape))  # how much of each output comes from the image
    signal = min((outputs[k] - blank[k]).abs().max().item() / outputs[k].abs().max().item() for k in outputs)
    exact = run(model.double(), image.double())  # the float64 truth, to report float32 noise
    noise = max((outputs[k].double() - exact[k]).abs().max().item() / exact[k].abs().max().item() for k in exact)
    print(f"{name}: {norm}, {len(names)} state tensors; relative to each output's max |value|: float32 vs "
          f"float64 differ by at most {noise:.2e}; zeroing the image changes every output by at least {signal:.2e}")

    tensors = {"image": image, **outputs}
    metadata = {
        "depth": str(depth), "num_classes": str(num_classes), "anchors": str(ANCHORS), "width": str(WIDTH),
        "p6": "P5", "norm": norm, "formula": FORMULA, "state_names": json.dumps(names, separators=(",", ":")),
        "torch": torch.__version__, "torchvision": torchvision.__version__,
    }
    path = os.path.join(out_dir, f"model_{name}.safetensors")
    save_verified(tensors, path, metadata=metadata)
    print(f"  wrote {path} ({os.path.getsize(path)} bytes): " +
          ", ".join(f"{k} {list(v.shape)}" for k, v in tensors.items() if k in ("image", "p3", "p7", "cls.0")))


# The gradient fixture (see the docstring).
GRAD_WIDTH = 64
PERTURBED_RUNS = 100
GRAD_PARAMS = [
    "backbone.conv1.weight", "backbone.bn1.weight", "backbone.layer1.0.conv1.weight",
    "backbone.layer2.0.conv2.weight", "backbone.layer2.0.downsample.0.weight", "backbone.layer4.1.bn2.weight",
    "backbone.layer4.1.bn2.bias", "fpn.lateral.0.weight", "fpn.output.2.weight", "fpn.p6.weight",
    "head.cls_tower.0.weight", "head.cls_logits.bias", "head.box_pred.weight",
]


def build_r18_batchnorm(num_classes, width):
    from torchvision.models import resnet18
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.retinanet import RetinaNet
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7
    body = resnet18(weights=None, norm_layer=torch.nn.BatchNorm2d)
    backbone = BackboneWithFPN(body, {"layer2": "0", "layer3": "1", "layer4": "2"}, [128, 256, 512], width,
                               extra_blocks=LastLevelP6P7(width, width))
    return RetinaNet(backbone, num_classes)


def loss_weight(kind, shape, level):
    """Rc_l (kind "cls") or Rb_l (kind "box") of the docstring, float32."""
    x = torch.arange(math.prod(shape), dtype=torch.float64) * 0.917 + (2.1 * level + 0.3)
    value = torch.sin(x) if kind == "cls" else torch.cos(x)
    return value.to(torch.float32).reshape(shape)


def grad_loss(model, image):
    """L of the docstring, through model.backbone and the head's convs, per level."""
    features = list(model.backbone(image).values())  # "0", "1", "2" (P3..P5), "p6", "p7"
    cls_head, box_head = model.head.classification_head, model.head.regression_head
    loss = image.new_zeros(())
    for level, feature in enumerate(features):
        cls = cls_head.cls_logits(cls_head.conv(feature))
        box = box_head.bbox_reg(box_head.conv(feature))
        loss = loss + (cls * loss_weight("cls", cls.shape, level).to(cls.dtype)).sum() \
            + (box * loss_weight("box", box.shape, level).to(box.dtype)).sum()
    return loss


def gradients(model, image):
    """(loss, {our name: gradient}) after one backward pass from fresh state."""
    model.zero_grad(set_to_none=True)
    loss = grad_loss(model, image)
    loss.backward()
    grads = {our_name(n, retinanet=True): p.grad for n, p in model.named_parameters()}
    return loss.detach(), grads


def make_grad_r18_train(out_dir):
    import copy

    import torchvision
    num_classes = 5
    model = build_r18_batchnorm(num_classes, GRAD_WIDTH)
    names = set_by_formula(model)
    model64 = copy.deepcopy(model).double()  # before any forward: train mode updates the running statistics
    model.train()
    model64.train()
    torch.manual_seed(0)
    image = torch.randn(2, 3, 64, 64)
    loss32, grads32 = gradients(model, image)
    loss64, grads64 = gradients(model64, image.double())

    def errors(loss, grads):  # {"loss": relative error, name: max|g - g64| / max|g64|} against float64
        out = {"loss": abs(loss.item() - loss64.item()) / abs(loss64.item())}
        for name in GRAD_PARAMS:
            out[name] = ((grads[name].double() - grads64[name]).abs().max() / grads64[name].abs().max()).item()
        return out

    f32_error = errors(loss32, grads32)
    f32_worst = dict(f32_error)
    gen = torch.Generator().manual_seed(1)
    for _ in range(PERTURBED_RUNS):
        ulps = torch.randint(-1, 2, image.shape, generator=gen).to(torch.float32)
        moved = image * (1 + ulps * 2.0 ** -23)
        for k, v in errors(*gradients(model, moved)).items():
            f32_worst[k] = max(f32_worst[k], v)
    f32_error = {k: float(f"{v:.3g}") for k, v in f32_error.items()}
    f32_worst = {k: float(f"{v:.3g}") for k, v in f32_worst.items()}
    print(f"grad_r18_train: BatchNorm2d in train mode, width {GRAD_WIDTH}, {len(names)} state tensors; L = "
          f"{loss64.item():.9g}; torch float32 vs float64 (relative error of L, max|g32 - g64| / max|g64|), "
          f"for this image / worst of {PERTURBED_RUNS} runs on the image moved by <= 1 ulp:\n"
          + "\n".join(f"    {k:40s} {f32_error[k]:.2e} / {f32_worst[k]:.2e}" for k in f32_error))

    tensors = {"image": image, "loss": loss64.to(torch.float32).reshape(1)}
    for name in GRAD_PARAMS:
        tensors[f"grad.{name}"] = grads64[name].to(torch.float32)
    metadata = {
        "depth": "18", "num_classes": str(num_classes), "anchors": str(ANCHORS), "width": str(GRAD_WIDTH),
        "p6": "P5", "norm": type(model.backbone.body.bn1).__name__, "mode": "train", "formula": FORMULA,
        "loss_formula": "sum_l sum(cls_l * sin(0.917 i + 2.1 l + 0.3)) + sum(box_l * cos(0.917 i + 2.1 l + 0.3))",
        "loss_f64": repr(loss64.item()), "torch_f32_error": json.dumps(f32_error, separators=(",", ":")),
        "torch_f32_worst": json.dumps(f32_worst, separators=(",", ":")), "perturbed_runs": str(PERTURBED_RUNS),
        "state_names": json.dumps(names, separators=(",", ":")),
        "torch": torch.__version__, "torchvision": torchvision.__version__,
    }
    path = os.path.join(out_dir, "model_grad_r18_train.safetensors")
    save_verified(tensors, path, metadata=metadata)
    print(f"  wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    parser = argparse.ArgumentParser(description="torchvision RetinaNet fixtures")
    default_out = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))
    parser.add_argument("--out", default=default_out)
    args = parser.parse_args()
    torch.set_num_threads(1)
    make("retinanet_r18", 18, build_r18, 5, (2, 3, 64, 96), args.out)
    make("retinanet_r50", 50, build_r50, 3, (1, 3, 64, 64), args.out)
    make_grad_r18_train(args.out)


if __name__ == "__main__":
    main()
