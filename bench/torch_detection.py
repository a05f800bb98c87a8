#!/usr/bin/env python3
"""The PyTorch peer of `ghm_retinanet bench train`: torchvision's RetinaNet, one training step
(forward, loss, backward, gradient clipping, SGD) or one inference (forward + post-processing).

The model is torchvision's retinanet_resnet50_fpn layout built by hand so that the depth can vary:
ResNet-{18,34,50,101} with frozen batch norm, the stem and layer1 frozen (trainable_layers=3, as
when the backbone is pretrained), FPN on C3..C5 with P6/P7 from P5, 9 anchors, 91 classes, random
initial weights. Like ours, the batch is already normalised and needs no resize, so the
GeneralizedRCNNTransform is bypassed (images go straight to the backbone as one padded tensor);
everything after it is torchvision's own code (anchor generator, compute_loss,
postprocess_detections with 100 detections per image, as ours).

Differences that remain: torchvision's losses are sigmoid focal loss + L1 (ours: the config's,
GHM-C + GHM-R by default); its matcher keeps low-quality matches (allow_low_quality_matches=True)
as mmdetection's min_pos_iou=0 does.

The boxes are the same as ours (the formula in bench/train.cpp). With --export DIR the
script also writes its random weights (in our names, through tools/convert_torchvision.py) and its
images to DIR/weights.safetensors and DIR/input.safetensors; `ghm_retinanet bench train --weights
DIR/weights.safetensors --input DIR/input.safetensors` then runs the very same network on the very
same batch, so that inference post-processes the same candidates on both sides.

  python3 bench/torch_detection.py --depth 50 --mode train --batch 2 --size 512x512 --threads 2

--precision bf16 (or fp16 on CUDA) runs the backbone and head under torch.autocast, as
`ghm_retinanet bench train --precision` runs ours; anchors, losses and post-processing take
float32 head outputs on both sides.

--device cuda runs the model, batch and losses on the GPU (cudnn.benchmark on unless
--no-cudnn-benchmark; PyTorch's default TF32 rules: on for convolutions), synchronises after each
run and reports the peak of torch.cuda.max_memory_allocated over the timed runs.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time


def frac(x):
    return x - math.floor(x)


def synthetic_targets(torch, batch, boxes, classes, h, w):
    out = []
    for n in range(batch):
        b, l = [], []
        for j in range(boxes):
            t = float(n * boxes + j + 1)
            cx = w * frac(t * 0.6180339887498949)
            cy = h * frac(t * 0.7548776662466927)
            side = 16.0 * 2.0 ** (3.0 * frac(t * 0.5698402909980532))
            aspect = 2.0 ** (2.0 * frac(t * 0.3247179572447460) - 1.0)
            bw, bh = side / math.sqrt(aspect), side * math.sqrt(aspect)
            clip = lambda v, hi: min(max(v, 0.0), float(hi))
            b.append([clip(cx - bw / 2, w), clip(cy - bh / 2, h), clip(cx + bw / 2, w), clip(cy + bh / 2, h)])
            l.append((int(t) * 7) % classes)
        out.append({"boxes": torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
                    "labels": torch.tensor(l, dtype=torch.int64)})
    return out


def add_step_args(p, classes=91):
    """The options both detection peers share (bench/torch_faster_rcnn.py too)."""
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--size", default="512x512")
    p.add_argument("--boxes", type=int, default=8)
    p.add_argument("--classes", type=int, default=classes)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default="")


def time_runs(run, warmup, repeats, sync=lambda: None, after_warmup=None):
    """warmup untimed runs, then repeats timed ones (ms, each ending with sync()); and the last value."""
    value = None
    for _ in range(warmup):
        value = run()
    sync()
    if after_warmup:
        after_warmup()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = run()
        sync()
        times.append(1e3 * (time.perf_counter() - t0))
    return times, value


def prepare(torch, a):
    """Threads as asked, the memory before the model, the image size; seeds torch. -> (MiB, H, W)."""
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    baseline_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    h, w = (int(v) for v in a.size.split("x"))
    torch.manual_seed(0)
    return baseline_mib, h, w


def report(a, title, times, value, baseline_mib, h, w, extra=None, extra_line=None):
    """The console lines and the --json file of a finished measurement."""
    median = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(title)
    print(f"median_ms     {median:.1f}")
    print(f"min_ms        {min(times):.1f}")
    print(f"peak_rss_mib  {peak:.1f}")
    print(f"baseline_mib  {baseline_mib:.1f}  (the interpreter and torch before the model)")
    if extra_line:
        print(extra_line)
    print(("loss          %.5f" if a.mode == "train" else "detections    %d") % value)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"mode": a.mode, "depth": a.depth, "batch": a.batch, "height": h, "width": w,
                       "threads": a.threads, "median_ms": median, "runs_ms": times, "peak_rss_mib": peak,
                       "baseline_rss_mib": baseline_mib, **(extra or {})}, f)


def build_model(torch, depth, classes):
    import torchvision
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.retinanet import RetinaNet
    from torchvision.ops import misc as misc_nn_ops
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    resnet = getattr(torchvision.models, f"resnet{depth}")(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(resnet, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return RetinaNet(backbone, classes, detections_per_img=100)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_step_args(p)
    p.add_argument("--export", default="", help="write DIR/weights.safetensors and DIR/input.safetensors")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:I]")
    p.add_argument("--no-cudnn-benchmark", action="store_true")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="bf16/fp16: the backbone and head under torch.autocast, the losses and post-processing on "
                        "float32 head outputs (as ours)")
    a = p.parse_args()

    import torch
    from torchvision.models.detection.image_list import ImageList

    baseline_mib, h, w = prepare(torch, a)
    model = build_model(torch, a.depth, a.classes)
    images = torch.randn(a.batch, 3, h, w)
    image_list = ImageList(images, [(h, w)] * a.batch)
    targets = synthetic_targets(torch, a.batch, a.boxes, a.classes, h, w)
    if a.export:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
        from convert_torchvision import convert_state
        from safetensors_py import save_file
        os.makedirs(a.export, exist_ok=True)
        converted, _ = convert_state(model.state_dict(), "torchvision RetinaNet")
        save_file(converted, os.path.join(a.export, "weights.safetensors"), metadata={"source": "torchvision"})
        save_file({"image": images.contiguous()}, os.path.join(a.export, "input.safetensors"))
    device = torch.device(a.device)
    on_gpu = device.type == "cuda"
    if on_gpu:
        torch.backends.cudnn.benchmark = not a.no_cudnn_benchmark
        model.to(device)
        images = images.to(device)
        image_list = ImageList(images, [(h, w)] * a.batch)
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
    params = [q for q in model.parameters() if q.requires_grad]
    sgd = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-4)

    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)

    def backbone_and_head():
        if low is None:
            features = list(model.backbone(images).values())
            return features, model.head(features)
        with torch.autocast(device_type=device.type, dtype=low):
            features = list(model.backbone(images).values())
            head_outputs = model.head(features)
        return [f.float() for f in features], {k: v.float() for k, v in head_outputs.items()}

    # fp16: dynamic loss scaling, as ours (torch.cuda.amp.GradScaler's defaults are the same).
    scaler = torch.cuda.amp.GradScaler() if a.precision == "fp16" else None

    def train_step():
        features, head_outputs = backbone_and_head()
        anchors = model.anchor_generator(image_list, features)
        losses = model.compute_loss(targets, head_outputs, anchors)
        total = sum(losses.values())
        sgd.zero_grad()
        if scaler is None:
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, 35.0)
            sgd.step()
        else:
            scaler.scale(total).backward()
            scaler.unscale_(sgd)
            torch.nn.utils.clip_grad_norm_(params, 35.0)
            scaler.step(sgd)
            scaler.update()
        return float(total)

    def infer():
        with torch.no_grad():
            features, head_outputs = backbone_and_head()
            anchors = model.anchor_generator(image_list, features)
            per_level = [x.size(2) * x.size(3) for x in features]
            a_per_loc = head_outputs["cls_logits"].size(1) // sum(per_level)
            per_level = [n * a_per_loc for n in per_level]
            split_outputs = {k: list(v.split(per_level, dim=1)) for k, v in head_outputs.items()}
            split_anchors = [list(x.split(per_level)) for x in anchors]
            detections = model.postprocess_detections(split_outputs, split_anchors, image_list.image_sizes)
        return sum(int(d["scores"].numel()) for d in detections)

    if a.mode == "train":
        model.train()
        run = train_step
    else:
        model.eval()
        run = infer
    sync = (lambda: torch.cuda.synchronize(device)) if on_gpu else (lambda: None)
    times, value = time_runs(run, a.warmup, a.repeats, sync,
                             (lambda: torch.cuda.reset_peak_memory_stats(device)) if on_gpu else None)
    device_peak = torch.cuda.max_memory_allocated(device) / 1048576.0 if on_gpu else 0.0
    title = (f"torch {a.mode}: ResNet-{a.depth} FPN, {a.classes} classes, {a.batch} x {h}x{w}, {a.threads} threads, "
             f"{a.device}, {a.precision}")
    extra = {"precision": a.precision, "device": a.device, "peak_device_mib": device_peak}
    report(a, title, times, value, baseline_mib, h, w, extra,
           f"peak_device_mib {device_peak:.1f}" if on_gpu else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
