"""Generate the PyTorch reference fixtures for the loss tests.

Run:  /usr/bin/python3 tools/make_fixtures_losses.py [--out tests/data]

Each case is a pair of files in the format of the `ghm_retinanet loss` command
(see tools/ghm_reference.py for the protocol):
  tests/data/losses_<name>.in.safetensors   the inputs; metadata "options" holds the
                                            command-line options of the case and
                                            "description" says what it covers
  tests/data/losses_<name>.out.safetensors  what tools/ghm_reference.py computes from
                                            them (run_sequence with those options)
so the C++ test runs `loss <options>` on the .in file and compares with the .out file,
and anyone can redo it with `python3 tools/ghm_reference.py <options> --in ... --out ...`.

Cases (K classes, D = 4 box deltas; "labels" are integer class ids with background = K):
  ghmc_onehot       --kind ghmc                  one call, one-hot f32 target [48, 6],
                                                 label_weight [48, 6] with some zero elements
  ghmc_levels       --kind ghmc --bins 30 --momentum 0.75
                                                 5 steps (P3..P7) of 200, 50, 13, 4, 1 rows, K = 8,
                                                 i64 labels [N] (background K and -1), label_weight
                                                 [N] with zero rows, logits around the 0.01 prior
  ghmc_init_state   --kind ghmc --bins 30 --momentum 0.75
                                                 one unsuffixed call starting from a given acc_sum
                                                 (some bins 0, some non-zero)
  ghmc_all_ignored  --kind ghmc --bins 30 --momentum 0.75
                                                 every label_weight 0: loss 0, weights 0, n = 0, the
                                                 given acc_sum comes back unchanged
  ghmc_edges        --kind ghmc --bins 30        logits whose g lands exactly on a float32 edge i/30
                                                 (targets 0 and 1), or on the nearest value below or
                                                 above it, chosen where PyTorch's vector and scalar
                                                 sigmoids and the correctly rounded sigmoid agree; plus
                                                 saturated logits +-30 (g == 0 or g == 1)
  ghmc_batch        --kind ghmc --bins 30 --momentum 0.75 --scope batch
                                                 3 steps of 90, 23, 7 rows, i32 labels, run as one call
  ghmr_levels       --kind ghmr --mu 0.02 --bins 10 --momentum 0.7 --loss-weight 10
                                                 3 steps of 150, 40, 11 rows, ~20% of rows weighted 1 on
                                                 all 4 coordinates, small, medium and large |d| (g == 1
                                                 in float32) and d == 0
  ghmr_weight2      --kind ghmr --mu 0.02 --bins 10 --loss-weight 10
                                                 weights 2 and 0.5: tot is the weight sum, not a count
  ghmr_no_pos       --kind ghmr --mu 0.02 --bins 10 --momentum 0.7 --loss-weight 10
                                                 no weighted row: loss 0, acc_sum stays 0
  bce               --kind bce                   2 steps, i64 labels, label_weight [N] with zeros,
                                                 default avg_factor per step
  focal             --kind focal                 one-hot target, label_weight [N, K], default
                                                 avg_factor (number of positives)
  focal_options     --kind focal --alpha 0.5 --gamma 1.5 --avg-factor 12.5 --loss-weight 2
  sl1               --kind sl1                   both branches and |d| == beta exactly
  asl1              --kind asl1                  default mu, weighted rows
  single            --kind ghmc --bins 30 --momentum 0.75
                                                 one element: pred [1, 1], label [1]
  ghmc_1003         --kind ghmc --bins 30 --momentum 0.75
                                                 1003 rows x 7 classes: sizes that are not multiples of
                                                 8 or 16

Everything is float32 on one thread; each case is seeded from its name, so the files
are identical from run to run. After writing, every .in file is read back, run again
with the options stored in it, and compared bit for bit with the .out file.
"""

import math
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ghm_reference import parse_options, run_sequence  # noqa: E402
from fixture_files import output_folder  # noqa: E402
from safetensors_py import load_file, save_file  # noqa: E402

PRIOR_LOGIT = -math.log(99.0)  # RetinaNet's classification bias for the prior 0.01


def seed_case(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def labels(rows, num_classes, fg_fraction, dtype=torch.int64, negative_fraction=0.0):
    """Class ids in [0, K) for about fg_fraction of the rows, background K (or -1) for the rest."""
    ids = torch.randint(0, num_classes, (rows,))
    u = torch.rand(rows)
    ids[u >= fg_fraction] = num_classes
    ids[u >= 1.0 - negative_fraction] = -1
    return ids.to(dtype)


def row_weights(rows, zero_fraction):
    return (torch.rand(rows) >= zero_fraction).float()


def prior_logits(rows, num_classes, spread=2.0):
    return PRIOR_LOGIT + spread * torch.randn(rows, num_classes)


def onehot(ids, num_classes):
    out = torch.zeros(ids.shape[0], num_classes)
    fg = (ids >= 0) & (ids < num_classes)
    out[fg.nonzero().squeeze(1), ids[fg]] = 1.0
    return out


def sequence(steps):
    """{pred.k, target.k, label_weight.k} from a list of (pred, target, label_weight)."""
    tensors = {}
    for k, (pred, target, weight) in enumerate(steps):
        tensors[f"pred.{k}"] = pred
        tensors[f"target.{k}"] = target
        tensors[f"label_weight.{k}"] = weight
    return tensors


def box_deltas(rows, pos_fraction, weight_value=1.0):
    """pred, target, weight [rows, 4]: target ~ N(0, 0.1); pred - target a mix of scales."""
    target = 0.1 * torch.randn(rows, 4)
    scale = torch.tensor([0.003, 0.03, 0.3, 2.0])[torch.randint(0, 4, (rows, 1))]
    pred = target + scale * torch.randn(rows, 4)
    weight = (torch.rand(rows, 1) < pos_fraction).float().expand(rows, 4) * weight_value
    return pred, target, weight.contiguous()


# ---------------------------------------------------------------- GHM-C cases

def ghmc_onehot():
    rows, K = 48, 6
    ids = labels(rows, K, 0.3)
    weight = (torch.rand(rows, K) >= 0.1).float()
    return {"pred": 3.0 * torch.randn(rows, K), "target": onehot(ids, K), "label_weight": weight}


def ghmc_levels():
    K = 8
    steps = []
    for rows in (200, 50, 13, 4, 1):
        pred = prior_logits(rows, K)
        pred[torch.rand(rows) < 0.1] += 6.0  # a few confident rows, right or wrong
        steps.append((pred, labels(rows, K, 0.15, negative_fraction=0.05), row_weights(rows, 0.1)))
    return sequence(steps)


def ghmc_init_state():
    rows, K, bins = 40, 5, 30
    acc_sum = 50.0 * torch.rand(bins)
    acc_sum[torch.rand(bins) < 0.4] = 0.0
    return {"pred": prior_logits(rows, K, 3.0), "target": onehot(labels(rows, K, 0.25), K),
            "label_weight": row_weights(rows, 0.1), "acc_sum": acc_sum}


def ghmc_all_ignored():
    rows, K, bins = 10, 4, 30
    return {"pred": 2.0 * torch.randn(rows, K), "target": labels(rows, K, 0.3), "label_weight": torch.zeros(rows),
            "acc_sum": 10.0 * torch.rand(bins)}


EDGE_BINS = 30
EDGE_SCAN_ULPS = 200  # float32 logits tried on each side of logit(edge)


def sigmoid_variants(x):
    """sigmoid(x) three ways, in float32: PyTorch's vector path, its scalar path, and correctly rounded."""
    vector = x.sigmoid()
    scalar = torch.stack([x[i:i + 1].sigmoid()[0] for i in range(x.numel())])
    rounded = torch.tensor([1.0 / (1.0 + math.exp(-v)) for v in x.tolist()], dtype=torch.float32)
    return vector, scalar, rounded


def logits_near(p):
    """The float32 logits within EDGE_SCAN_ULPS ulps of logit(p), ascending."""
    center = np.float32(math.log(p / (1.0 - p)))
    below, above = [center], [center]
    for _ in range(EDGE_SCAN_ULPS):
        below.append(np.nextafter(below[-1], np.float32(-np.inf)))
        above.append(np.nextafter(above[-1], np.float32(np.inf)))
    return torch.from_numpy(np.array(sorted(below[1:] + above), dtype=np.float32))


def edge_logits(edge, target):
    """Logits with a robust g (all sigmoids agree): up to 2 with g == edge, the nearest below and above."""
    x = logits_near(edge if target == 0.0 else 1.0 - edge)
    gs = [(s - target).abs() for s in sigmoid_variants(x)]
    robust = (gs[0] == gs[1]) & (gs[0] == gs[2])
    g = gs[0]
    on_edge = (robust & (g == edge)).nonzero().squeeze(1).tolist()
    chosen = sorted(set(on_edge[:1] + on_edge[-1:]))  # the first and the last hit
    below = (robust & (g < edge)).nonzero().squeeze(1)
    if below.numel():
        chosen.append(below[g[below].argmax()].item())
    above = (robust & (g > edge)).nonzero().squeeze(1)
    if above.numel():
        chosen.append(above[g[above].argmin()].item())
    return x[chosen]


def ghmc_edges():
    K = 6
    edges = torch.arange(EDGE_BINS + 1, dtype=torch.float32) / EDGE_BINS
    xs, ys = [], []
    for i in range(1, EDGE_BINS):
        for target in (0.0, 1.0):
            x = edge_logits(edges[i].item(), target)
            xs.append(x)
            ys.append(torch.full_like(x, target))
    saturated = torch.tensor([30.0, -30.0, 30.0, -30.0, 30.0, -30.0, 30.0, -30.0])
    xs += [saturated, 2.0 * torch.randn(40)]
    ys += [torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]), (torch.rand(40) < 0.2).float()]
    x, y = torch.cat(xs), torch.cat(ys)
    perm = torch.randperm(x.numel())
    x, y = x[perm], y[perm]
    pad = -x.numel() % K
    x = torch.cat([x, 2.0 * torch.randn(pad)])
    y = torch.cat([y, torch.zeros(pad)])
    return {"pred": x.reshape(-1, K), "target": y.reshape(-1, K), "label_weight": torch.ones(x.numel() // K, K)}


def count_edge_hits(inputs):
    """(interior edge hits, g == 0, g == 1) of the edges case, with g as the reference computes it."""
    g = (inputs["pred"].sigmoid() - inputs["target"]).abs()
    edges = torch.arange(EDGE_BINS + 1, dtype=torch.float32) / EDGE_BINS
    interior = sum(int((g == edges[i]).sum()) for i in range(1, EDGE_BINS))
    return interior, int((g == 0).sum()), int((g == 1).sum())


def ghmc_batch():
    K = 5
    return sequence([(prior_logits(rows, K, 3.0), labels(rows, K, 0.2, torch.int32), row_weights(rows, 0.15))
                     for rows in (90, 23, 7)])


def single():
    return {"pred": torch.tensor([[0.7]]), "target": torch.tensor([0]), "label_weight": torch.tensor([1.0])}


def ghmc_1003():
    rows, K = 1003, 7
    return {"pred": prior_logits(rows, K, 2.5), "target": labels(rows, K, 0.1, negative_fraction=0.02),
            "label_weight": row_weights(rows, 0.08)}


# ---------------------------------------------------------------- GHM-R cases

def ghmr_levels():
    steps = []
    for rows in (150, 40, 11):
        pred, target, weight = box_deltas(rows, 0.2)
        large = torch.rand(rows, 4) < 0.05
        pred[large] = target[large] + torch.where(torch.rand(int(large.sum())) < 0.5, -1.0, 1.0) * (
            50.0 + 450.0 * torch.rand(int(large.sum())))
        pred[0, 0] = target[0, 0]  # d == 0
        weight[0] = 1.0
        steps.append((pred, target, weight))
    return sequence(steps)


def ghmr_weight2():
    pred, target, weight = box_deltas(60, 0.3, weight_value=2.0)
    half = (weight[:, 0] > 0) & (torch.rand(60) < 0.25)
    weight[half] = 0.5
    return {"pred": pred, "target": target, "label_weight": weight}


def ghmr_no_pos():
    pred, target, _ = box_deltas(20, 0.0)
    return {"pred": pred, "target": target, "label_weight": torch.zeros(20, 4)}


# ---------------------------------------------------------------- baseline cases

def bce():
    K = 6
    return sequence([(2.0 * torch.randn(rows, K), labels(rows, K, 0.3), row_weights(rows, 0.2)) for rows in (64, 17)])


def focal():
    rows, K = 50, 6
    weight = (torch.rand(rows, K) >= 0.1).float()
    return {"pred": prior_logits(rows, K, 3.0), "target": onehot(labels(rows, K, 0.3), K), "label_weight": weight}


def focal_options():
    rows, K = 30, 4
    return {"pred": 2.0 * torch.randn(rows, K), "target": labels(rows, K, 0.4), "label_weight": row_weights(rows, 0.1)}


def sl1():
    pred, target, weight = box_deltas(40, 0.5)
    beta = torch.tensor(1.0 / 9.0, dtype=torch.float32)
    target[:2] = 0.0
    pred[0] = beta   # |d| == beta: the linear branch
    pred[1] = -beta
    weight[:2] = 1.0
    return {"pred": pred, "target": target, "label_weight": weight}


def asl1():
    pred, target, weight = box_deltas(40, 0.5)
    return {"pred": pred, "target": target, "label_weight": weight}


CASES = [
    ("ghmc_onehot", "--kind ghmc", ghmc_onehot, "GHM-C, one-hot target, [N, K] weights with zeros, no momentum"),
    ("ghmc_levels", "--kind ghmc --bins 30 --momentum 0.75", ghmc_levels,
     "GHM-C over 5 levels through one EMA, i64 labels, [N] weights with zeros"),
    ("ghmc_init_state", "--kind ghmc --bins 30 --momentum 0.75", ghmc_init_state,
     "GHM-C, one unsuffixed call from a given acc_sum"),
    ("ghmc_all_ignored", "--kind ghmc --bins 30 --momentum 0.75", ghmc_all_ignored,
     "GHM-C with every weight 0: loss 0, acc_sum unchanged"),
    ("ghmc_edges", f"--kind ghmc --bins {EDGE_BINS}", ghmc_edges,
     "GHM-C with g exactly on float32 bin edges, just below and above them, and saturated (+-30)"),
    ("ghmc_batch", "--kind ghmc --bins 30 --momentum 0.75 --scope batch", ghmc_batch,
     "GHM-C, 3 steps concatenated into one call, i32 labels"),
    ("ghmr_levels", "--kind ghmr --mu 0.02 --bins 10 --momentum 0.7 --loss-weight 10", ghmr_levels,
     "GHM-R over 3 levels through one EMA, positives only, large |d| with g == 1, d == 0"),
    ("ghmr_weight2", "--kind ghmr --mu 0.02 --bins 10 --loss-weight 10", ghmr_weight2,
     "GHM-R with weights 2 and 0.5: tot is a sum of weights"),
    ("ghmr_no_pos", "--kind ghmr --mu 0.02 --bins 10 --momentum 0.7 --loss-weight 10", ghmr_no_pos,
     "GHM-R with no weighted row: loss 0"),
    ("bce", "--kind bce", bce, "BCE with logits, 2 steps, default avg_factor"),
    ("focal", "--kind focal", focal, "sigmoid focal loss, default options"),
    ("focal_options", "--kind focal --alpha 0.5 --gamma 1.5 --avg-factor 12.5 --loss-weight 2", focal_options,
     "sigmoid focal loss, every option set"),
    ("sl1", "--kind sl1", sl1, "smooth L1, both branches and |d| == beta"),
    ("asl1", "--kind asl1", asl1, "authentic smooth L1"),
    ("single", "--kind ghmc --bins 30 --momentum 0.75", single, "GHM-C on a single element"),
    ("ghmc_1003", "--kind ghmc --bins 30 --momentum 0.75", ghmc_1003, "GHM-C, 1003 x 7: odd sizes"),
]


def describe(tensors):
    return ", ".join(f"{name} {str(t.dtype).replace('torch.', '')}{list(t.shape)}" for name, t in tensors.items())


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.reshape(-1).view(torch.uint8).equal(
        b.reshape(-1).view(torch.uint8))


def check_round_trip(in_path, out_path):
    """Run the stored .in file again with its stored options; the result must match the .out file bit for bit."""
    inputs, metadata = load_file(in_path)
    kind, params = parse_options(metadata["options"])
    expected, _ = load_file(out_path)
    outputs = run_sequence(kind, inputs, **params)
    if set(outputs) != set(expected) or not all(same_bits(outputs[k], expected[k]) for k in outputs):
        raise RuntimeError(f"{out_path}: re-running {in_path} does not reproduce it")


def main():
    out = output_folder(__doc__.splitlines()[0])

    total_bytes = 0
    for name, options, build, description in CASES:
        seed_case(name)
        inputs = build()
        kind, params = parse_options(options)
        outputs = run_sequence(kind, inputs, **params)
        in_path = os.path.join(out, f"losses_{name}.in.safetensors")
        out_path = os.path.join(out, f"losses_{name}.out.safetensors")
        save_file(inputs, in_path, metadata={"options": options, "description": description})
        save_file(outputs, out_path)
        check_round_trip(in_path, out_path)
        total_bytes += os.path.getsize(in_path) + os.path.getsize(out_path)
        losses = " ".join(f"{v:.7g}" for v in outputs["loss"].tolist())
        print(f"{name}: {options}\n  in:  {describe(inputs)}\n  loss {losses}")
        if name == "ghmc_edges":
            interior, zero, one = count_edge_hits(inputs)
            print(f"  g exactly on an interior edge i/{EDGE_BINS}: {interior}; g == 0: {zero}; g == 1: {one}")
    print(f"{len(CASES)} fixture pairs, {total_bytes} bytes")


if __name__ == "__main__":
    main()
