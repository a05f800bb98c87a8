#!/usr/bin/env python3
"""The GPU benchmarks: ours against PyTorch on the same GPU, in one sitting (run through bench/gpu/run.sh).

    python3 bench/gpu/run.py --ours build/bin/ghm_retinanet [--suites detection,loss,conv,elementwise]
        [--rounds 2] [--warmup 3] [--repeats 10] [--quick] [--no-doc] [--json OUT]

Suites (pairs run interleaved, ours then PyTorch, --rounds times; each run is the median of
--repeats timed runs after --warmup untimed ones inside its process, every run ending with a device
synchronisation; the table keeps the median over rounds):
  detection    `ghm_retinanet bench train --device cuda` vs bench/torch_detection.py --device cuda
               (torchvision RetinaNet; the peer exports its random weights and batch and ours loads
               them): R50-FPN training iteration (ours: GHM-C + GHM-R, torchvision: focal + L1) at 2 and
               8 images of 800x1344 (800x1333 padded to a multiple of 32), inference (forward +
               post-processing) of 8 images as images/s; the peak GPU memory held by tensors in each
  precision    the R50-FPN training iteration of `detection` (2 x 800x1344) in fp32 (TF32), bf16 and fp16,
               ours (`bench train --precision`) against torchvision under torch.autocast; the goal: our
               bf16 at 1.7x our TF32 or faster
  loss         `bench loss --device cuda` vs bench/torch_losses.py --device cuda on the logits of a
               16-image COCO batch (3.2 M anchors x 80 classes): GHM-C and GHM-R (ours) against the
               reference algorithm and against PyTorch's BCE; the GHM share of a training iteration
  conv         `bench ops --device cuda` vs bench/torch_ops.py --device cuda: the 111 convolutions of
               R50-FPN RetinaNet at 2x3x800x1216, forward + backward (cuDNN on both sides; TF32 as each
               framework's default for convolutions: on)
  elementwise  `bench elementwise --device cuda`: GB/s of our elementwise kernels against the device's
               copy bandwidth (goal: 80%)
Unless --no-doc, the tables are appended to docs/gpu-results.md under a heading with the date and GPU.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
PY = sys.executable
RESULTS = os.path.join(ROOT, "docs", "gpu-results.md")


def run(argv):
    """stdout of argv run from the repository root; stops with its stderr when it fails."""
    print("  $", " ".join(argv), flush=True)
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def load(path):
    with open(path) as f:
        return json.load(f)


def gpu_name():
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                              stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown GPU"


class Table:
    def __init__(self, title, header):
        self.title, self.header, self.rows = title, header, []

    def add(self, *cells):
        self.rows.append([str(c) for c in cells])
        print("  " + " | ".join(self.rows[-1]), flush=True)

    def markdown(self):
        out = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
               "|" + "|".join(" --- " for _ in self.header) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out) + "\n"


def ratio(peer, ours):
    return f"**{peer / ours:.2f}x**" if ours > 0 else "n/a"


def suite_detection(a, tmp, raw):
    t = Table("RetinaNet R50-FPN on the GPU (ours vs torchvision, same weights and batch)",
              ["task", "batch", "ours", "torchvision", "torchvision / ours time", "peak GPU MiB, ours",
               "peak GPU MiB, torchvision"])
    runs = [("train", 2), ("train", 8), ("infer", 8)] if not a.quick else [("train", 2), ("infer", 2)]
    h, w = 800, 1344
    for mode, batch in runs:
        export = os.path.join(tmp, f"det_{batch}")
        common = ["--depth", "50", "--batch", str(batch), "--size", f"{h}x{w}"]
        if not os.path.exists(os.path.join(export, "weights.safetensors")):
            run([PY, os.path.join(BENCH, "torch_detection.py"), *common, "--mode", "infer", "--warmup", "0",
                 "--repeats", "1", "--threads", "4", "--device", "cuda", "--export", export])
        timing = ["--mode", mode, "--warmup", str(a.warmup), "--repeats", str(a.repeats), "--threads", "4"]
        ours, peer = [], []
        for _ in range(a.rounds):
            j = os.path.join(tmp, "ours.json")
            run([a.ours, "bench", "train", *common, *timing, "--device", "cuda", "--weights",
                 os.path.join(export, "weights.safetensors"), "--input", os.path.join(export, "input.safetensors"),
                 "--json", j])
            ours.append(load(j))
            j = os.path.join(tmp, "peer.json")
            run([PY, os.path.join(BENCH, "torch_detection.py"), *common, *timing, "--device", "cuda", "--json", j])
            peer.append(load(j))
        o = statistics.median(r["median_ms"] for r in ours)
        p = statistics.median(r["median_ms"] for r in peer)
        om = max(r["peak_device_mib"] for r in ours)
        pm = max(r["peak_device_mib"] for r in peer)
        raw.setdefault("detection", []).append({"mode": mode, "batch": batch, "ours": ours, "torchvision": peer})
        if mode == "train":
            t.add(f"training iteration, {h}x{w}", batch, f"{o:.1f} ms", f"{p:.1f} ms", ratio(p, o), f"{om:.0f}",
                  f"{pm:.0f}")
        else:
            t.add(f"inference, {h}x{w}", batch, f"{1e3 * batch / o:.1f} images/s", f"{1e3 * batch / p:.1f} images/s",
                  ratio(p, o), f"{om:.0f}", f"{pm:.0f}")
    return [t]


def suite_precision(a, tmp, raw):
    t = Table("Mixed precision: R50-FPN training iteration, 2 x 800x1344 (ours vs torchvision under torch.autocast)",
              ["precision", "ours", "vs our TF32", "torchvision", "torchvision / ours time", "peak GPU MiB, ours",
               "peak GPU MiB, torchvision"])
    batch, h, w = 2, 800, 1344
    export = os.path.join(tmp, f"det_{batch}")
    common = ["--depth", "50", "--batch", str(batch), "--size", f"{h}x{w}"]
    if not os.path.exists(os.path.join(export, "weights.safetensors")):
        run([PY, os.path.join(BENCH, "torch_detection.py"), *common, "--mode", "infer", "--warmup", "0",
             "--repeats", "1", "--threads", "4", "--device", "cuda", "--export", export])
    timing = ["--mode", "train", "--warmup", str(a.warmup), "--repeats", str(a.repeats), "--threads", "4"]
    base = None
    for precision in ("fp32", "bf16", "fp16"):
        ours, peer = [], []
        for _ in range(a.rounds):
            j = os.path.join(tmp, "ours.json")
            run([a.ours, "bench", "train", *common, *timing, "--device", "cuda", "--precision", precision,
                 "--weights", os.path.join(export, "weights.safetensors"), "--input",
                 os.path.join(export, "input.safetensors"), "--json", j])
            ours.append(load(j))
            j = os.path.join(tmp, "peer.json")
            run([PY, os.path.join(BENCH, "torch_detection.py"), *common, *timing, "--device", "cuda", "--precision",
                 precision, "--json", j])
            peer.append(load(j))
        o = statistics.median(r["median_ms"] for r in ours)
        p = statistics.median(r["median_ms"] for r in peer)
        base = base or o
        raw.setdefault("precision", []).append({"precision": precision, "ours": ours, "torchvision": peer})
        t.add(precision if precision != "fp32" else "fp32 (TF32)", f"{o:.1f} ms", f"{base / o:.2f}x", f"{p:.1f} ms",
              ratio(p, o), f"{max(r['peak_device_mib'] for r in ours):.0f}",
              f"{max(r['peak_device_mib'] for r in peer):.0f}")
    return [t]


def suite_loss(a, tmp, raw):
    rows = 3_211_200 if not a.quick else 240_000  # 16 images of 800x1333: ~200,700 anchors each
    t = Table(f"Losses on the GPU, loss + gradient, {rows} x 80 logits (GHM-R on the positives, {rows // 50} x 4)",
              ["task", "ours", "PyTorch", "PyTorch / ours time"])
    pairs = [("ghmc", "ghmc_reference", "GHM-C (ours) vs reference GHM-C"), ("ghmc", "bce", "GHM-C (ours) vs BCE"),
             ("bce", "bce", "BCE"), ("focal", "focal", "focal loss"),
             ("ghmr", "ghmr_reference", "GHM-R (ours) vs reference GHM-R")]
    ours, peer = [], []
    for _ in range(a.rounds):
        j = os.path.join(tmp, "ours.json")
        run([a.ours, "bench", "loss", "--device", "cuda", "--size", str(rows), "--repeats", str(a.repeats), "--json",
             j])
        ours.append({r["task"]: r["ms"] for r in load(j)["rows"]})
        j = os.path.join(tmp, "peer.json")
        run([PY, os.path.join(BENCH, "torch_losses.py"), "--device", "cuda", "--sizes", f"{rows}x80", "--repeats",
             str(a.repeats), "--json", j])
        peer.append({r["task"]: r["ms"] for r in load(j)["rows"]})
    raw["loss"] = {"rows": rows, "ours": ours, "pytorch": peer}
    for mine, theirs, label in pairs:
        o = statistics.median(r[mine] for r in ours)
        p = statistics.median(r[theirs] for r in peer)
        t.add(label, f"{o:.3f} ms", f"{p:.3f} ms", ratio(p, o))
    ghm = statistics.median(r["ghmc"] + r["ghmr"] for r in ours)
    t.add("GHM-C + GHM-R together (ours)", f"{ghm:.3f} ms", "", "")
    return [t]


def suite_conv(a, tmp, raw):
    t = Table("cuDNN convolutions of RetinaNet R50-FPN, 2x3x800x1216, forward + backward",
              ["convolutions", "ours", "PyTorch", "PyTorch / ours time"])
    ours, peer = [], []
    for _ in range(a.rounds):
        j = os.path.join(tmp, "ours.json")
        run([a.ours, "bench", "ops", "--device", "cuda", "--size", "800x1216", "--repeats", str(a.repeats), "--json", j])
        ours.append(load(j))
        j = os.path.join(tmp, "peer.json")
        run([PY, os.path.join(BENCH, "torch_ops.py"), "--device", "cuda", "--size", "800x1216", "--repeats",
             str(a.repeats), "--json", j])
        peer.append(load(j))
    raw["conv"] = {"ours": ours, "pytorch": peer}
    for part in ("fwd_ms", "bwd_ms"):
        o = statistics.median(r["total"][part] for r in ours)
        p = statistics.median(r["total"][part] for r in peer)
        t.add(f"all 111, {'forward' if part == 'fwd_ms' else 'backward'}", f"{o:.2f} ms", f"{p:.2f} ms", ratio(p, o))
    o = statistics.median(r["total"]["fwd_ms"] + r["total"]["bwd_ms"] for r in ours)
    p = statistics.median(r["total"]["fwd_ms"] + r["total"]["bwd_ms"] for r in peer)
    t.add("all 111, forward + backward", f"{o:.2f} ms", f"{p:.2f} ms", ratio(p, o))
    return [t]


def suite_elementwise(a, tmp, raw):
    t = Table("Elementwise kernels on the GPU against the device copy (goal: 80% of the copy's GB/s)",
              ["kernel", "ms", "GB/s", "of copy"])
    j = os.path.join(tmp, "ours.json")
    run([a.ours, "bench", "elementwise", "--device", "cuda", "--repeats", str(max(a.repeats, 20)), "--json", j])
    r = load(j)
    raw["elementwise"] = r
    for row in r["rows"]:
        t.add(row["name"], f"{row['ms']:.3f}", f"{row['gbps']:.0f}", f"{100 * row['of_copy']:.0f}%")
    return [t]


SUITES = {"detection": suite_detection, "precision": suite_precision, "loss": suite_loss, "conv": suite_conv,
          "elementwise": suite_elementwise}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ours", required=True, help="the ghm_retinanet binary of a CUDA build")
    p.add_argument("--suites", default=",".join(SUITES))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a check that everything runs")
    p.add_argument("--no-doc", action="store_true", help="do not append to docs/gpu-results.md")
    p.add_argument("--json", default="", help="also write every raw result here")
    a = p.parse_args()
    suites = [s for s in a.suites.split(",") if s]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        sys.exit(f"run.py: unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}")
    gpu = gpu_name()
    version = run([a.ours, "--version"]).strip().splitlines()
    print(f"GPU: {gpu}\n{version[0] if version else ''}", flush=True)
    tables, raw = [], {"gpu": gpu, "version": version}
    with tempfile.TemporaryDirectory() as tmp:
        for s in suites:
            print(f"[{s}]", flush=True)
            tables += SUITES[s](a, tmp, raw)
    text = (f"## {datetime.date.today().isoformat()}: {gpu}\n\n"
            f"bench/gpu/run.sh{' --quick' if a.quick else ''}, suites {', '.join(suites)}; "
            f"{a.rounds} rounds, median of {a.repeats} runs after {a.warmup} warm-up runs.\n"
            f"Build: {version[0] if version else 'unknown'}\n\n" + "\n".join(tb.markdown() for tb in tables))
    print("\n" + text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(raw, f, indent=1)
    if not a.no_doc:
        new = not os.path.exists(RESULTS)
        with open(RESULTS, "a") as f:
            if new:
                f.write("# GPU results\n\nWritten by bench/gpu/run.sh (and scripts/gpu_check.sh) on machines with a GPU; "
                        "newest last.\n\n")
            f.write(text + "\n")
        print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
