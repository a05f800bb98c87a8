"""Convert a torchvision checkpoint into this project's parameter names (safetensors).

Run:  /usr/bin/python3 tools/convert_torchvision.py IN.pth OUT.safetensors [--check] [--trusted]

IN is either
  - a torchvision ResNet / ResNeXt ImageNet checkpoint (keys conv1.*, bn1.*, layer1..4.*, fc.*):
    the backbone is kept under "backbone." and the classifier fc.* is dropped; or
  - a whole torchvision RetinaNet (keys backbone.body.*, backbone.fpn.*, head.*), as
    retinanet_resnet50_fpn(...).state_dict() or the COCO weights torchvision downloads; or
  - a whole torchvision Faster R-CNN (keys backbone.body.*, backbone.fpn.*, rpn.*, roi_heads.*), as
    fasterrcnn_resnet50_fpn(...).state_dict().
Either may be the bare state dict or wrapped as {"model": state_dict, ...} (torchvision's
reference training scripts) or {"state_dict": state_dict, ...}; a "module." prefix on every key
(nn.DataParallel) is removed. IN is unpickled with torch.load(weights_only=True), which refuses
anything but tensors and plain containers; --trusted lifts that (for checkpoints that also hold
e.g. argparse arguments, as torchvision's reference scripts write), and so runs code from IN.

Name mapping (torchvision -> ours; <p> is weight or bias, or a BN's running_mean / running_var):
  conv1.<p>, bn1.<p>, layerN.<rest>          -> backbone.conv1.<p>, backbone.bn1.<p>, backbone.layerN.<rest>
  backbone.body.<rest>                       -> backbone.<rest>
  backbone.fpn.inner_blocks.{i}.0.<p>        -> fpn.lateral.{i}.<p>    (i = 0, 1, 2 for C3, C4, C5)
  backbone.fpn.layer_blocks.{i}.0.<p>        -> fpn.output.{i}.<p>
  backbone.fpn.extra_blocks.p6.<p> (p7)      -> fpn.p6.<p> (fpn.p7.<p>)
  head.classification_head.conv.{i}.0.<p>   -> head.cls_tower.{2i}.<p>   (our ReLUs sit at odd indices)
  head.classification_head.cls_logits.<p>   -> head.cls_logits.<p>
  head.regression_head.conv.{i}.0.<p>       -> head.box_tower.{2i}.<p>
  head.regression_head.bbox_reg.<p>         -> head.box_pred.<p>
  rpn.head.{conv.0.0,cls_logits,bbox_pred}.<p>              -> the same names (Faster R-CNN;
                                                                rpn.head.conv.<p> before 0.13)
  roi_heads.box_head.{fc6,fc7}.<p>, roi_heads.box_predictor.{cls_score,bbox_pred}.<p>  -> the same names
torchvision before 0.13 saved the FPN blocks without the ".0" (inner_blocks.{i}.<p>) and the
head towers as conv.{2i}.<p>; both layouts are read (torchvision itself upgrades them in
_load_from_state_dict).

Dropped: every "*.num_batches_tracked" (a training counter; our batch norms have none) and the
ImageNet classifier fc.weight / fc.bias. Any other key is an error that lists the keys, e.g. the
GroupNorm head of retinanet_resnet50_fpn_v2 (conv.{i}.1.*).

OUT holds every tensor as float32, sorted by name, with metadata
{"source": "torchvision", "converted_from": <basename of IN>}.

--check, after writing: reads OUT back and compares every tensor bit for bit with what was meant
to be written, then builds the torchvision model of the same architecture (depth, groups and
width per group read from the shapes; for a RetinaNet also the classes, anchors and P6 input;
for a Faster R-CNN the anchors, the box head's width and the classes)
and checks that converting its state dict gives exactly OUT's names and shapes, i.e. that
nothing is missing.
"""

import argparse
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_py import load_file, save_file  # noqa: E402

BACKBONE_KEY = re.compile(r"^(conv1|bn1|layer[1-4])\.")
FPN_BLOCK = re.compile(r"^backbone\.fpn\.(inner_blocks|layer_blocks)\.(\d+)\.(?:0\.)?(weight|bias)$")
FPN_EXTRA = re.compile(r"^backbone\.fpn\.extra_blocks\.(p6|p7)\.(weight|bias)$")
HEAD_TOWER = re.compile(r"^head\.(classification_head|regression_head)\.conv\.(\d+)\.(0\.)?(weight|bias)$")
HEAD_OUT = re.compile(r"^head\.(classification_head\.cls_logits|regression_head\.bbox_reg)\.(weight|bias)$")
RPN_CONV_BEFORE_0_13 = re.compile(r"^rpn\.head\.conv\.(weight|bias)$")
TWO_STAGE = re.compile(r"^(rpn\.head\.(conv\.0\.0|cls_logits|bbox_pred)|"
                       r"roi_heads\.(box_head\.fc[67]|box_predictor\.(cls_score|bbox_pred)))\.(weight|bias)$")

FPN_NAMES = {"inner_blocks": "lateral", "layer_blocks": "output"}
TOWER_NAMES = {"classification_head": "cls_tower", "regression_head": "box_tower"}
HEAD_OUT_NAMES = {"classification_head.cls_logits": "cls_logits", "regression_head.bbox_reg": "box_pred"}

DROPPED = "dropped"


class ConversionError(ValueError):
    pass


def is_retinanet(names):
    """A detector's state dict (RetinaNet or Faster R-CNN) has backbone.* keys; an ImageNet one has bare
    conv1.*, layerN.*."""
    return any(n.startswith(("backbone.", "head.", "rpn.", "roi_heads.")) for n in names)


def is_faster_rcnn(names):
    return any(n.startswith(("rpn.", "roi_heads.")) for n in names)


def our_name(tv_name, retinanet):
    """Our name for a torchvision key; DROPPED for keys we do not keep; None for unknown keys."""
    if tv_name.endswith(".num_batches_tracked"):
        return DROPPED
    if not retinanet:
        if tv_name in ("fc.weight", "fc.bias"):
            return DROPPED
        return "backbone." + tv_name if BACKBONE_KEY.match(tv_name) else None
    if tv_name.startswith("backbone.body."):
        rest = tv_name[len("backbone.body."):]
        return "backbone." + rest if BACKBONE_KEY.match(rest) else None
    m = FPN_BLOCK.match(tv_name)
    if m:
        return f"fpn.{FPN_NAMES[m.group(1)]}.{m.group(2)}.{m.group(3)}"
    m = FPN_EXTRA.match(tv_name)
    if m:
        return f"fpn.{m.group(1)}.{m.group(2)}"
    m = HEAD_TOWER.match(tv_name)
    if m:
        index = int(m.group(2))
        if m.group(3):  # torchvision >= 0.13: conv.{i} is Conv2dNormActivation(conv, ReLU), its conv at .0
            index *= 2
        elif index % 2:  # before 0.13: conv.{2i} is the conv and conv.{2i+1} the ReLU, which has no state
            return None
        return f"head.{TOWER_NAMES[m.group(1)]}.{index}.{m.group(4)}"
    m = HEAD_OUT.match(tv_name)
    if m:
        return f"head.{HEAD_OUT_NAMES[m.group(1)]}.{m.group(2)}"
    if TWO_STAGE.match(tv_name):
        return tv_name
    m = RPN_CONV_BEFORE_0_13.match(tv_name)
    if m:  # torchvision before 0.13 saved RPNHead's single conv as conv.<p>
        return f"rpn.head.conv.0.0.{m.group(1)}"
    return None


def unwrap(obj, path):
    """The state dict inside a checkpoint: the object itself, or its "model" / "state_dict" entry."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = obj
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        state = obj["model"]
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state = obj["state_dict"]
    else:
        raise ConversionError(f"{path}: expected a state dict, or a dict with a 'model' or 'state_dict' entry; "
                              f"got {type(obj).__name__} with keys {list(obj)[:10] if isinstance(obj, dict) else []}")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def convert_state(state, source="checkpoint"):
    """{torchvision name: tensor} -> ({our name: float32 tensor} sorted by name, [dropped names])."""
    retinanet = is_retinanet(state)
    out, dropped, unknown, clashes = {}, [], [], []
    for tv_name, tensor in state.items():
        name = our_name(tv_name, retinanet)
        if name is None:
            unknown.append(tv_name)
        elif name == DROPPED:
            dropped.append(tv_name)
        elif name in out:
            clashes.append(f"{tv_name} -> {name}")
        elif not tensor.is_floating_point():
            unknown.append(f"{tv_name} (dtype {tensor.dtype}, expected floating point)")
        else:
            out[name] = tensor.detach().to(device="cpu", dtype=torch.float32).contiguous()
    if unknown or clashes:
        layout = ("Faster R-CNN" if is_faster_rcnn(state) else "RetinaNet") if retinanet else "ImageNet ResNet"
        lines = [f"{source}: cannot convert {len(unknown)} unknown key(s) and {len(clashes)} duplicate(s) "
                 f"({layout} layout):"]
        lines += [f"  unknown: {k}" for k in unknown] + [f"  duplicate: {k}" for k in clashes]
        if any(re.match(r"^head\.\w+\.conv\.\d+\.1\.", k) for k in unknown):
            lines.append("  (head.*.conv.{i}.1.* is the GroupNorm of retinanet_resnet50_fpn_v2's head, which our "
                         "RetinaNet does not have)")
        raise ConversionError("\n".join(lines))
    if not out:
        raise ConversionError(f"{source}: no tensors to convert")
    return {name: out[name] for name in sorted(out)}, dropped


def load_checkpoint(path, trusted):
    """The state dict in `path`. Without `trusted`, only tensors and plain containers are unpickled."""
    import pickle
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as e:
        raise ConversionError(f"{path}: holds objects other than tensors and plain containers (torchvision's "
                              f"reference training scripts also save their argparse arguments); if you trust "
                              f"the file, run again with --trusted. ({str(e).rsplit('error: ', 1)[-1]})") from None
    except (RuntimeError, OSError) as e:
        raise ConversionError(f"{path}: not a PyTorch checkpoint ({e})") from None
    return unwrap(obj, path)


# ---- --check: rebuild the torchvision model the checkpoint came from --------------------------


def infer_resnet(ours):
    """torchvision ResNet(block, layers, groups, width_per_group) from our backbone.* shapes."""
    blocks = []
    for stage in range(1, 5):
        indices = {int(m.group(1)) for n in ours for m in [re.match(rf"^backbone\.layer{stage}\.(\d+)\.", n)] if m}
        if not indices:
            raise ConversionError(f"no backbone.layer{stage}.* tensors: not a ResNet")
        blocks.append(max(indices) + 1)
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
    if "backbone.layer1.0.conv3.weight" in ours:
        width = ours["backbone.layer1.0.conv2.weight"].shape[0]  # planes * width_per_group / 64 * groups, planes 64
        groups = width // ours["backbone.layer1.0.conv2.weight"].shape[1]
        return ResNet(Bottleneck, blocks, groups=groups, width_per_group=width // groups)
    return ResNet(BasicBlock, blocks)


def reference_state(ours, retinanet):
    """The state dict of a freshly built torchvision model with the architecture `ours` describes."""
    if not retinanet:
        return infer_resnet(ours).state_dict()
    if is_faster_rcnn(ours):
        return faster_rcnn_state(ours)
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.retinanet import RetinaNetHead
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7
    for name in ("fpn.p6.weight", "head.cls_logits.weight", "head.box_pred.weight"):
        if name not in ours:
            raise ConversionError(f"RetinaNet checkpoint without {name}")
    width = ours["fpn.p6.weight"].shape[0]
    p6_in = ours["fpn.p6.weight"].shape[1]  # 256: P6 from P5 (torchvision v1); C5's channels: from C5
    anchors = ours["head.box_pred.weight"].shape[0] // 4
    classes = ours["head.cls_logits.weight"].shape[0] // anchors
    body_fpn = _resnet_fpn_extractor(infer_resnet(ours), 5, returned_layers=[2, 3, 4],
                                     extra_blocks=LastLevelP6P7(p6_in, width))
    if body_fpn.out_channels != width:
        raise ConversionError(f"FPN width {width} is not torchvision's {body_fpn.out_channels}")
    state = {"backbone." + k: v for k, v in body_fpn.state_dict().items()}
    state.update({"head." + k: v for k, v in RetinaNetHead(width, anchors, classes).state_dict().items()})
    return state


def faster_rcnn_state(ours):
    """The state dict of torchvision's Faster R-CNN (FPN on C2..C5 with the max-pooled P6) of `ours`' shapes."""
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.rpn import RPNHead
    for name in ("rpn.head.cls_logits.weight", "roi_heads.box_head.fc6.weight", "roi_heads.box_predictor.cls_score.weight"):
        if name not in ours:
            raise ConversionError(f"Faster R-CNN checkpoint without {name}")
    width = ours["rpn.head.cls_logits.weight"].shape[1]
    anchors = ours["rpn.head.cls_logits.weight"].shape[0]
    representation, pooled = ours["roi_heads.box_head.fc6.weight"].shape
    classes = ours["roi_heads.box_predictor.cls_score.weight"].shape[0]
    body_fpn = _resnet_fpn_extractor(infer_resnet(ours), 5, returned_layers=[1, 2, 3, 4])
    state = {"backbone." + k: v for k, v in body_fpn.state_dict().items()}
    state.update({"rpn.head." + k: v for k, v in RPNHead(width, anchors).state_dict().items()})
    state.update({"roi_heads.box_head." + k: v for k, v in TwoMLPHead(pooled, representation).state_dict().items()})
    state.update({"roi_heads.box_predictor." + k: v
                  for k, v in FastRCNNPredictor(representation, classes).state_dict().items()})
    return state


def check(out_path, written, retinanet):
    tensors, metadata = load_file(out_path)
    if list(tensors) != list(written):
        raise ConversionError(f"{out_path}: read back {len(tensors)} names, wrote {len(written)}")
    for name, tensor in written.items():
        back = tensors[name]
        if back.dtype != torch.float32 or back.shape != tensor.shape or not torch.equal(back, tensor):
            raise ConversionError(f"{out_path}: {name} does not read back bit for bit")
    reference, _ = convert_state(reference_state(written, retinanet), "reference model")
    missing = [n for n in reference if n not in written]
    extra = [n for n in written if n not in reference]
    shapes = [f"{n}: {list(written[n].shape)} vs {list(reference[n].shape)}"
              for n in written if n in reference and written[n].shape != reference[n].shape]
    if missing or extra or shapes:
        raise ConversionError(f"{out_path}: against a rebuilt torchvision model: missing {missing}, "
                              f"unexpected {extra}, other shapes {shapes}")
    print(f"check: {len(tensors)} tensors read back bit for bit and match a rebuilt torchvision model; "
          f"metadata {metadata}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="torchvision .pth checkpoint")
    parser.add_argument("output", help="safetensors file to write")
    parser.add_argument("--check", action="store_true",
                        help="read OUT back and compare it with a rebuilt torchvision model")
    parser.add_argument("--trusted", action="store_true",
                        help="unpickle arbitrary objects (runs code from the file: only for files you trust)")
    args = parser.parse_args(argv)
    try:
        state = load_checkpoint(args.input, args.trusted)
        converted, dropped = convert_state(state, args.input)
        save_file(converted, args.output,
                  metadata={"source": "torchvision", "converted_from": os.path.basename(args.input)})
        retinanet = is_retinanet(state)
        counters = sum(d.endswith(".num_batches_tracked") for d in dropped)
        others = [d for d in dropped if not d.endswith(".num_batches_tracked")]
        print(f"{args.output}: {len(converted)} tensors ({sum(t.numel() for t in converted.values())} values) "
              f"from the {('Faster R-CNN' if is_faster_rcnn(state) else 'RetinaNet') if retinanet else 'ImageNet ResNet'} "
              f"checkpoint {args.input}; "
              f"dropped {counters} num_batches_tracked" + (f" and {', '.join(others)}" if others else ""))
        if args.check:
            check(args.output, converted, retinanet)
    except ConversionError as e:
        print(f"convert_torchvision: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
