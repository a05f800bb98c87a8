"""PyTorch reference for the GHM-C / GHM-R losses and the baseline losses.

This is the oracle the C++ losses are checked against. It reproduces the
behaviour of the reference implementations (the mmdetection GHMC / GHMR losses,
as described in docs/losses.md) operation by operation, in float32, so that the
bin counts, the EMA state and the per-element weights are bit-identical to what
those implementations compute on the CPU.

GHM-C, one call on logits x [N, K], binary targets y, label weights lw:
    g      = |sigmoid(x) - y|                  (float32, no gradient)
    edges  = float32(arange(M + 1)) / M, last edge += 1e-6 (1.00000095f)
    bin i  = edges[i] <= g < edges[i + 1]      (NaN falls in no bin)
    valid  = lw > 0                            (only the sign of lw is used)
    tot    = max(#valid, 1)                    (counted in int64, kept as a double)
    R_i    = #(valid and in bin i);  n = number of bins with R_i > 0 in this call
    for each bin with R_i > 0:
        momentum m > 0:  S_i = f32(f32(m) * S_i) + f32((1 - m) * R_i)   ((1 - m) * R_i in double)
                         w   = f32(1 / S_i) * f32(tot)                  (torch's tot / tensor)
        m == 0:          w   = f32(tot / R_i)                           (double division)
    w      = w / n in float32 (invalid elements and empty bins keep 0)
    loss   = BCEWithLogits(x, y, weight=w, reduction='sum') / tot * loss_weight
GHM-R, one call on deltas pred, target [N, D], weights lw [N, D]:
    d = pred - target;  r = sqrt(d*d + mu*mu);  ASL1 = r - mu;  g = |d / r|
    edges as GHM-C but the last edge is 1e3;  tot = max(sum(lw), 1) (summed in double)
    binning, EMA and weights as GHM-C;  loss = sum(ASL1 * w) / tot * loss_weight
In both, mu * mu, (1 - m) * R_i and tot / R_i are python double expressions,
rounded to float32 where they meet a tensor, exactly as in the reference code.
Gradients come from autograd with the weights held constant.

Deliberate differences from mmdetection (they only matter at scales the fixtures
never reach): tot counts valid elements in int64 (mmdetection sums a float32
mask, inexact past 2^24 elements), and GHM-R sums the label weights in double
(mmdetection sums them in float32; the two agree for integer weights).

Baselines (loss_weight * sum(...) / avg_factor, each element weighted by lw):
    bce        BCEWithLogits(x, y)
    focal      BCEWithLogits(x, y) * alpha_t * (1 - p_t)^gamma     (Lin et al. 2017)
    smooth_l1  0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta
    asl1       sqrt(d^2 + mu^2) - mu
Default avg_factor: bce max(#(lw > 0), 1) over [N, K]; focal max(#(y == 1 and
lw > 0), 1); smooth_l1 and asl1 max(#rows with any weight > 0, 1).

Targets for the classification losses: one-hot float32 [N, K], or integer labels
[N] (int32 or int64) where a label in [0, K) marks its column and K or a negative
value is background (an all-zero row). Label weights: [N, K], or [N] broadcast
over the K columns.

The `loss` file protocol (shared with the C++ command `ghm_retinanet loss`):
  input   pred, target, label_weight -- one call, reported as step 0 -- or a
          sequence pred.0, target.0, label_weight.0, pred.1, ... run in order
          through ONE EMA state, one call per step (as the reference calls the loss
          once per FPN level); optional acc_sum [bins] f32, the initial EMA state
          (needs momentum > 0).
          ghmc/bce/focal: pred [N, K] f32, target [N, K] f32 or [N] i32/i64,
          label_weight [N, K] or [N] f32.  ghmr/sl1/asl1: pred, target,
          label_weight [N, D] f32.
  output  loss [calls] f32 (each call's loss, loss_weight included);
          grad.k (dL/dpred.k, the shape of pred.k); for ghmc and ghmr also
          weights.k (per-element weights, the shape of pred.k), num_in_bin.k
          [bins] i64 and acc_sum.k [bins] f32 (the EMA state after call k, all
          zeros when momentum is 0).
  --scope batch concatenates the rows of all steps into one call: loss has one
          entry, grad.k and weights.k are split back per step, and num_in_bin.0 /
          acc_sum.0 describe the single call.
Options that do not apply to --kind are ignored, as the reference ignores them.

Run:  /usr/bin/python3 tools/ghm_reference.py --kind ghmc|ghmr|bce|focal|sl1|asl1
          --in IN.safetensors --out OUT.safetensors [--bins 10] [--momentum 0]
          [--mu 0.02] [--loss-weight 1] [--alpha 0.25] [--gamma 2]
          [--beta 0.1111111] [--avg-factor F] [--scope per_level|batch]
It runs on one thread so that its float32 sums come out the same on every run.
"""

import argparse
import os
import shlex
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_py import load_file, save_file  # noqa: E402

KINDS = ("ghmc", "ghmr", "bce", "focal", "sl1", "asl1")
GHM_KINDS = ("ghmc", "ghmr")
CLASSIFICATION_KINDS = ("ghmc", "bce", "focal")
SCOPES = ("per_level", "batch")
LABEL_DTYPES = (torch.int32, torch.int64)

GHMC_LAST_EDGE_SHIFT = 1e-6  # the last GHM-C edge is 1 + 1e-6, so g == 1 is binned
GHMR_LAST_EDGE = 1e3         # the last GHM-R edge, far above any g


# ---------------------------------------------------------------- inputs

def expand_targets(target, label_weight, num_classes):
    """One-hot float32 targets [N, K] and float32 label weights [N, K] from the accepted forms."""
    if target.dim() == 1:
        if target.dtype not in LABEL_DTYPES:
            raise ValueError(f"labels must be int32 or int64, got {target.dtype}")
        labels = target.long()
        if labels.numel() and labels.max().item() > num_classes:
            raise ValueError(f"labels must be <= K = {num_classes} (K is background), got {labels.max().item()}")
        onehot = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32)
        rows = ((labels >= 0) & (labels < num_classes)).nonzero().squeeze(1)
        onehot[rows, labels[rows]] = 1.0
        target = onehot
    elif target.dim() != 2 or target.dtype != torch.float32:
        raise ValueError(f"target must be [N, K] float32 or [N] labels, got {target.dtype} {list(target.shape)}")
    if target.shape[1] != num_classes:
        raise ValueError(f"target has {target.shape[1]} columns, pred has {num_classes}")

    if label_weight.dtype != torch.float32:
        raise ValueError(f"label_weight must be float32, got {label_weight.dtype}")
    if label_weight.dim() == 1:
        label_weight = label_weight[:, None].expand(label_weight.shape[0], num_classes)
    if label_weight.shape != target.shape:
        raise ValueError(f"label_weight {list(label_weight.shape)} does not match target {list(target.shape)}")
    return target, label_weight.contiguous()


def check_classification(pred, target, label_weight):
    if pred.dim() != 2 or pred.dtype != torch.float32:
        raise ValueError(f"pred must be [N, K] float32, got {pred.dtype} {list(pred.shape)}")
    if target.shape[0] != pred.shape[0] or label_weight.shape[0] != pred.shape[0]:
        raise ValueError(f"pred, target and label_weight must have the same rows, got {list(pred.shape)}, "
                         f"{list(target.shape)}, {list(label_weight.shape)}")


def check_regression(pred, target, weight):
    for name, t in (("pred", pred), ("target", target), ("label_weight", weight)):
        if t.dim() != 2 or t.dtype != torch.float32:
            raise ValueError(f"{name} must be [N, D] float32, got {t.dtype} {list(t.shape)}")
    if pred.shape != target.shape or pred.shape != weight.shape:
        raise ValueError(f"pred, target and label_weight must have one shape, got {list(pred.shape)}, "
                         f"{list(target.shape)}, {list(weight.shape)}")


# ---------------------------------------------------------------- GHM

@dataclass
class GhmCallStats:
    """What one GHM call saw and did."""
    weights: torch.Tensor     # the shape of pred, float32: the per-element weights w
    num_in_bin: torch.Tensor  # [bins] int64: R_i, valid elements per bin
    acc_sum: torch.Tensor     # [bins] float32: the EMA state after the call (zeros without momentum)
    tot: float                # the normaliser
    n: int                    # the number of non-empty bins


class GhmBinning:
    """The bin edges, the EMA state and the per-bin weighting shared by GHM-C and GHM-R."""

    def __init__(self, bins, momentum):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.bins = bins
        self.momentum = momentum
        self.edges = torch.arange(bins + 1, dtype=torch.float32) / bins
        self.acc_sum = torch.zeros(bins, dtype=torch.float32)
        self.last = None  # GhmCallStats of the latest call

    def set_state(self, acc_sum):
        if self.momentum == 0:
            raise ValueError("an initial acc_sum needs momentum > 0 (without momentum there is no EMA state)")
        if acc_sum.dtype != torch.float32 or list(acc_sum.shape) != [self.bins]:
            raise ValueError(f"acc_sum must be [{self.bins}] float32, got {acc_sum.dtype} {list(acc_sum.shape)}")
        self.acc_sum = acc_sum.clone()

    def harmonize(self, g, valid, tot):
        """The weights of one call: bin the valid g, update the EMA and weight each bin."""
        weights = torch.zeros_like(g)
        num_in_bin = torch.zeros(self.bins, dtype=torch.int64)
        n = 0
        for i in range(self.bins):
            in_bin = (g >= self.edges[i]) & (g < self.edges[i + 1]) & valid
            count = int(in_bin.sum().item())
            num_in_bin[i] = count
            if count == 0:
                continue  # an empty bin keeps its EMA value and is not counted in n
            n += 1
            if self.momentum > 0:
                # 0-dim float32 arithmetic: m is rounded to float32 for the product, and the
                # double (1 - m) * count is rounded once to float32 for the sum.
                self.acc_sum[i] = self.momentum * self.acc_sum[i] + (1 - self.momentum) * count
                # torch evaluates `tot / tensor` as reciprocal(tensor) * tot, both in float32.
                weights[in_bin] = self.acc_sum[i].reciprocal() * tot
            else:
                weights[in_bin] = tot / count  # double division, rounded once when stored
        if n > 0:
            weights = weights / n
        self.last = GhmCallStats(weights, num_in_bin, self.acc_sum.clone(), tot, n)
        return weights


class GHMC(GhmBinning):
    """GHM-C: BCE with logits, each element weighted by the inverse density of its gradient norm."""

    def __init__(self, bins=10, momentum=0.0, loss_weight=1.0):
        super().__init__(bins, momentum)
        self.edges[-1] += GHMC_LAST_EDGE_SHIFT
        self.loss_weight = loss_weight

    def forward(self, pred, target, label_weight):
        check_classification(pred, target, label_weight)
        target, label_weight = expand_targets(target, label_weight, pred.shape[1])
        g = (pred.detach().sigmoid() - target).abs()
        valid = label_weight > 0
        tot = float(max(int(valid.sum().item()), 1))
        weights = self.harmonize(g, valid, tot)
        loss = F.binary_cross_entropy_with_logits(pred, target, weight=weights, reduction="sum") / tot
        return loss * self.loss_weight

    __call__ = forward


class GHMR(GhmBinning):
    """GHM-R: the authentic smooth L1 loss, each element weighted by the inverse density of its gradient norm."""

    def __init__(self, mu=0.02, bins=10, momentum=0.0, loss_weight=1.0):
        super().__init__(bins, momentum)
        if not mu > 0:
            raise ValueError(f"mu must be > 0, got {mu}")
        self.edges[-1] = GHMR_LAST_EDGE
        self.mu = mu
        self.loss_weight = loss_weight

    def forward(self, pred, target, label_weight):
        check_regression(pred, target, label_weight)
        diff = pred - target
        root = torch.sqrt(diff * diff + self.mu * self.mu)
        asl1 = root - self.mu
        g = (diff / root).abs().detach()
        valid = label_weight > 0
        tot = max(label_weight.double().sum().item(), 1.0)
        weights = self.harmonize(g, valid, tot)
        loss = (asl1 * weights).sum() / tot
        return loss * self.loss_weight

    __call__ = forward


# ---------------------------------------------------------------- baselines

def bce(pred, target, label_weight, avg_factor=None, loss_weight=1.0):
    check_classification(pred, target, label_weight)
    target, label_weight = expand_targets(target, label_weight, pred.shape[1])
    if avg_factor is None:
        avg_factor = max(int((label_weight > 0).sum().item()), 1)
    loss = F.binary_cross_entropy_with_logits(pred, target, weight=label_weight, reduction="sum")
    return loss / avg_factor * loss_weight


def focal(pred, target, label_weight, avg_factor=None, alpha=0.25, gamma=2.0, loss_weight=1.0):
    check_classification(pred, target, label_weight)
    target, label_weight = expand_targets(target, label_weight, pred.shape[1])
    if avg_factor is None:
        avg_factor = max(int(((target == 1) & (label_weight > 0)).sum().item()), 1)
    p = pred.sigmoid()
    one_minus_pt = p * (1 - target) + (1 - p) * target
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    elementwise = (F.binary_cross_entropy_with_logits(pred, target, reduction="none")
                   * alpha_t * one_minus_pt.pow(gamma))
    return (elementwise * label_weight).sum() / avg_factor * loss_weight


def rows_with_weight(weight):
    return max(int((weight > 0).any(dim=1).sum().item()), 1)


def smooth_l1(pred, target, weight, avg_factor=None, beta=1.0 / 9.0, loss_weight=1.0):
    check_regression(pred, target, weight)
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if avg_factor is None:
        avg_factor = rows_with_weight(weight)
    d = (pred - target).abs()
    elementwise = torch.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return (elementwise * weight).sum() / avg_factor * loss_weight


def asl1(pred, target, weight, avg_factor=None, mu=0.02, loss_weight=1.0):
    check_regression(pred, target, weight)
    if avg_factor is None:
        avg_factor = rows_with_weight(weight)
    diff = pred - target
    elementwise = torch.sqrt(diff * diff + mu * mu) - mu
    return (elementwise * weight).sum() / avg_factor * loss_weight


# ---------------------------------------------------------------- the file protocol

DEFAULTS = dict(bins=10, momentum=0.0, mu=0.02, loss_weight=1.0, alpha=0.25, gamma=2.0, beta=1.0 / 9.0,
                avg_factor=None, scope="per_level")
STEP_FIELDS = ("pred", "target", "label_weight")


def split_steps(inputs):
    """[(pred, target, label_weight)] in step order, from an unsuffixed triple or a .0, .1, ... sequence."""
    names = set(inputs)
    if "pred" in names:
        steps = [tuple(inputs[field] for field in STEP_FIELDS if field in inputs)]
        known = set(STEP_FIELDS)
    else:
        steps, known = [], set()
        while f"pred.{len(steps)}" in names:
            k = len(steps)
            fields = [f"{field}.{k}" for field in STEP_FIELDS]
            steps.append(tuple(inputs[name] for name in fields if name in inputs))
            known.update(fields)
        if not steps:
            raise ValueError("the input holds neither pred nor pred.0")
    for k, step in enumerate(steps):
        if len(step) != len(STEP_FIELDS):
            raise ValueError(f"step {k} needs pred, target and label_weight")
    unknown = names - known - {"acc_sum"}
    if unknown:
        raise ValueError(f"unexpected tensors in the input: {' '.join(sorted(unknown))}")
    return steps


def make_loss(kind, params):
    """A function (pred, target, label_weight) -> loss for one call; GHM losses keep their state."""
    p = dict(DEFAULTS, **params)
    if kind == "ghmc":
        return GHMC(p["bins"], p["momentum"], p["loss_weight"])
    if kind == "ghmr":
        return GHMR(p["mu"], p["bins"], p["momentum"], p["loss_weight"])
    if p["avg_factor"] is not None and not p["avg_factor"] > 0:
        raise ValueError(f"avg_factor must be > 0, got {p['avg_factor']}")
    if kind == "bce":
        return lambda x, y, w: bce(x, y, w, p["avg_factor"], p["loss_weight"])
    if kind == "focal":
        return lambda x, y, w: focal(x, y, w, p["avg_factor"], p["alpha"], p["gamma"], p["loss_weight"])
    if kind == "sl1":
        return lambda x, y, w: smooth_l1(x, y, w, p["avg_factor"], p["beta"], p["loss_weight"])
    if kind == "asl1":
        return lambda x, y, w: asl1(x, y, w, p["avg_factor"], p["mu"], p["loss_weight"])
    raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


def concatenate_steps(kind, steps):
    """One (target, label_weight) pair over all steps' rows, in the [N, K] / [N, D] form."""
    if kind in CLASSIFICATION_KINDS:
        expanded = [expand_targets(y, w, x.shape[1]) for x, y, w in steps]
    else:
        expanded = [(y, w) for _, y, w in steps]
    return torch.cat([y for y, _ in expanded]), torch.cat([w for _, w in expanded])


def run_sequence(kind, inputs, **params):
    """Run the `loss` file protocol on a dict of input tensors; returns the dict of output tensors."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown parameters: {' '.join(sorted(unknown))}")
    scope = params.get("scope", DEFAULTS["scope"])
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    steps = split_steps(inputs)
    check = check_classification if kind in CLASSIFICATION_KINDS else check_regression
    for x, y, w in steps:
        check(x, y, w)
    if len({x.shape[1] for x, _, _ in steps}) != 1:
        raise ValueError("every step must have the same number of columns")

    loss_fn = make_loss(kind, params)
    if "acc_sum" in inputs:
        if kind not in GHM_KINDS:
            raise ValueError(f"acc_sum is a GHM state; --kind {kind} has none")
        loss_fn.set_state(inputs["acc_sum"])

    preds = [x.detach().clone().requires_grad_(True) for x, _, _ in steps]
    losses, stats = [], []
    if scope == "batch":
        target, label_weight = concatenate_steps(kind, steps)
        calls = [(torch.cat(preds), target, label_weight)]
    else:
        calls = [(pred, y, w) for pred, (_, y, w) in zip(preds, steps)]
    for pred, target, label_weight in calls:
        loss = loss_fn(pred, target, label_weight)
        loss.backward()
        losses.append(loss.detach())
        if kind in GHM_KINDS:
            stats.append(loss_fn.last)

    outputs = {"loss": torch.stack(losses).reshape(len(losses))}
    if kind in GHM_KINDS and scope == "batch":
        rows = [x.shape[0] for x in preds]
        weights = list(stats[0].weights.split(rows))
    else:
        weights = [s.weights for s in stats]
    for k, pred in enumerate(preds):
        outputs[f"grad.{k}"] = pred.grad
        if kind in GHM_KINDS:
            outputs[f"weights.{k}"] = weights[k].contiguous()
            if k < len(stats):
                outputs[f"num_in_bin.{k}"] = stats[k].num_in_bin
                outputs[f"acc_sum.{k}"] = stats[k].acc_sum
    return outputs


# ---------------------------------------------------------------- command line

def build_parser(with_files=True):
    parser = argparse.ArgumentParser(description="PyTorch reference of `ghm_retinanet loss`: "
                                     "GHM-C / GHM-R and baseline losses on a safetensors file.")
    parser.add_argument("--kind", required=True, choices=KINDS)
    if with_files:
        parser.add_argument("--in", dest="in_path", required=True, metavar="IN", help="input .safetensors")
        parser.add_argument("--out", dest="out_path", required=True, metavar="OUT", help="output .safetensors")
    parser.add_argument("--bins", type=int, default=DEFAULTS["bins"], help="GHM bins M (default 10)")
    parser.add_argument("--momentum", type=float, default=DEFAULTS["momentum"],
                        help="GHM EMA momentum in [0, 1); 0 turns the EMA off (default 0)")
    parser.add_argument("--mu", type=float, default=DEFAULTS["mu"], help="ASL1 / GHM-R mu (default 0.02)")
    parser.add_argument("--loss-weight", type=float, default=DEFAULTS["loss_weight"], help="default 1")
    parser.add_argument("--alpha", type=float, default=DEFAULTS["alpha"], help="focal alpha (default 0.25)")
    parser.add_argument("--gamma", type=float, default=DEFAULTS["gamma"], help="focal gamma (default 2)")
    parser.add_argument("--beta", type=float, default=DEFAULTS["beta"], help="smooth L1 beta (default 1/9)")
    parser.add_argument("--avg-factor", type=float, default=None,
                        help="baseline divisor (default: from the weights, see the module doc)")
    parser.add_argument("--scope", choices=SCOPES, default=DEFAULTS["scope"],
                        help="per_level: one call per step (default); batch: one call over all rows")
    return parser


def params_from_args(args):
    return {name: getattr(args, name) for name in DEFAULTS}


def parse_options(options):
    """(kind, params) from an options string such as "--kind ghmc --bins 30 --momentum 0.75"."""
    args = build_parser(with_files=False).parse_args(shlex.split(options))
    return args.kind, params_from_args(args)


def main(argv=None):
    args = build_parser().parse_args(argv)
    torch.set_num_threads(1)
    inputs, _ = load_file(args.in_path)
    try:
        outputs = run_sequence(args.kind, inputs, **params_from_args(args))
    except ValueError as error:
        print(f"error: {args.in_path}: {error}", file=sys.stderr)
        return 1
    save_file(outputs, args.out_path)
    losses = " ".join(f"{v:.9g}" for v in outputs["loss"].tolist())
    print(f"{args.kind}: {len(outputs['loss'])} call(s), loss {losses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
