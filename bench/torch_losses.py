"""PyTorch reference timings for the classification and box losses (CPU, or a GPU with --device cuda).

Run:  /usr/bin/python3 bench/torch_losses.py [--threads 2] [--sizes 240000x80 100000x80]
          [--warmup 1] [--repeats 5] [--json OUT] [--device cpu|cuda]

For every size N x K (anchors x classes) it times, in one process, forward plus
backward (loss, then autograd.grad of the loss w.r.t. the logits or deltas):
  bce             F.binary_cross_entropy_with_logits(x, y, weight=label_weight,
                  reduction='sum') on [N, K]
  ghmc_reference  GHM-C as the reference code runs it (tools/ghm_reference.py: a
                  python loop over the bins with a host sync per bin), bins 30,
                  momentum 0.75, on [N, K]
  focal           the sigmoid focal loss (alpha 0.25, gamma 2) on [N, K], divided
                  by the number of positives
  ghmr_reference  GHM-R as the reference code runs it, mu 0.02, bins 10, momentum
                  0.7, loss_weight 10, on the positives only: [N / 50, 4]
Inputs: logits around RetinaNet's prior bias (-log 99) with unit-scale noise, one-hot
targets for 1% of the anchors, label weight 0 for 2% (ignored anchors); box
deltas with target ~ N(0, 0.1) and pred - target ~ N(0, 0.3). The GHM state is
kept from call to call, as in training. Each time is the median of --repeats
runs after --warmup runs. `ghm_retinanet bench loss` prints the same rows. On a GPU
the inputs are generated on the CPU (the same values) and moved, and every run ends
with torch.cuda.synchronize().
"""

import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

from timing import median_ms, synchronized

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from ghm_reference import GHMC, GHMR, focal  # noqa: E402

TASKS = ("bce", "ghmc_reference", "focal", "ghmr_reference")
POSITIVE_FRACTION = 0.01
IGNORED_FRACTION = 0.02
GHMR_ROWS_DIVISOR = 50  # GHM-R sees only the positives: N / 50 rows of 4 deltas


def parse_size(text):
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NxK, e.g. 240000x80, got {text!r}")
    if rows < GHMR_ROWS_DIVISOR or cols < 1:
        raise argparse.ArgumentTypeError(f"need N >= {GHMR_ROWS_DIVISOR} and K >= 1, got {text!r}")
    return rows, cols


def classification_inputs(rows, cols):
    pred = (-math.log(99.0) + torch.randn(rows, cols)).requires_grad_(True)
    target = torch.zeros(rows, cols)
    u = torch.rand(rows)
    positives = (u < POSITIVE_FRACTION).nonzero().squeeze(1)
    target[positives, torch.randint(0, cols, (positives.numel(),))] = 1.0
    label_weight = (u < 1.0 - IGNORED_FRACTION).float()[:, None].expand(rows, cols).contiguous()
    return pred, target, label_weight


def regression_inputs(rows):
    target = 0.1 * torch.randn(rows, 4)
    pred = (target + 0.3 * torch.randn(rows, 4)).requires_grad_(True)
    return pred, target, torch.ones(rows, 4)


def forward_backward(loss_fn, pred, *args):
    return lambda: torch.autograd.grad(loss_fn(pred, *args), pred)


def time_size(rows, cols, warmup, repeats, device):
    """[(task, shape string, ms)] for one N x K."""
    torch.manual_seed(0)
    pred, target, label_weight = classification_inputs(rows, cols)
    num_pos = max(int(((target == 1) & (label_weight > 0)).sum()), 1)
    box_rows = rows // GHMR_ROWS_DIVISOR
    box_pred, box_target, box_weight = regression_inputs(box_rows)
    if device.type == "cuda":
        pred = pred.detach().to(device).requires_grad_(True)
        box_pred = box_pred.detach().to(device).requires_grad_(True)
        target, label_weight = target.to(device), label_weight.to(device)
        box_target, box_weight = box_target.to(device), box_weight.to(device)

    def bce(x, y, w):
        return F.binary_cross_entropy_with_logits(x, y, weight=w, reduction="sum")

    runs = {
        "bce": forward_backward(bce, pred, target, label_weight),
        "ghmc_reference": forward_backward(GHMC(bins=30, momentum=0.75), pred, target, label_weight),
        "focal": forward_backward(lambda x, y, w: focal(x, y, w, avg_factor=num_pos), pred, target, label_weight),
        "ghmr_reference": forward_backward(GHMR(mu=0.02, bins=10, momentum=0.7, loss_weight=10.0),
                                           box_pred, box_target, box_weight),
    }
    shapes = {task: f"{rows}x{cols}" for task in TASKS}
    shapes["ghmr_reference"] = f"{box_rows}x4"
    return [(task, shapes[task], median_ms(synchronized(runs[task], device), warmup, repeats)) for task in TASKS]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(240000, 80), (100000, 80)],
                        metavar="NxK", help="anchors x classes (default 240000x80 100000x80)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per task (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per task; the median is kept (default 5)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:I] (default cpu)")
    args = parser.parse_args()
    device = torch.device(args.device)

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"warm-up {args.warmup}, median of {args.repeats}, forward + backward, {device}")
    header = f"{'task':16s} {'N x K':>12s} {'threads':>7s} {'ms':>10s}"
    print(header)
    print("-" * len(header))
    results = []
    for rows, cols in args.sizes:
        for task, shape, ms in time_size(rows, cols, args.warmup, args.repeats, device):
            print(f"{task:16s} {shape:>12s} {torch.get_num_threads():7d} {ms:10.2f}", flush=True)
            results.append({"task": task, "size": shape, "threads": torch.get_num_threads(), "ms": ms})

    if args.json:
        summary = {"torch_version": torch.__version__, "threads": torch.get_num_threads(),
                   "warmup": args.warmup, "repeats": args.repeats, "device": str(device), "rows": results}
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
