#!/usr/bin/env bash
# Mixed precision on the CPU, ours against PyTorch in one run: RetinaNet R50-FPN (torchvision's
# layout, random weights, 91 classes) training step and inference at 2 x 512x512 and
# 1 x 800x1216, float32 and bf16, on the same threads. Ours: `ghm_retinanet bench train
# --precision`; PyTorch: bench/torch_detection.py --precision (the backbone and head under
# torch.autocast("cpu", torch.bfloat16)). Each row is the median of --repeats timed runs after one
# warm-up; the runs alternate ours / PyTorch and nothing else should run meanwhile. Prints time,
# peak memory (the process's maximum RSS; PyTorch's includes the interpreter, given separately), and
# the ratios the goals of docs/performance.md ("Mixed precision") are stated in.
#
#   bash bench/precision.sh [--threads N] [--repeats N] [--sizes "2x512x512 1x800x1216"] [--keep DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
threads=2
repeats=3
sizes="2x512x512 1x800x1216"
keep=""
while (($# > 0)); do
  case "$1" in
    --threads) threads="$2"; shift ;;
    --repeats) repeats="$2"; shift ;;
    --sizes) sizes="$2"; shift ;;
    --keep) keep="$2"; shift ;;
    -h | --help) sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "precision.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
bin="${GHM_BIN:-build/bin/ghm_retinanet}"
[[ -x "$bin" ]] || { echo "precision.sh: no $bin (build first, or set GHM_BIN)" >&2; exit 1; }
/usr/bin/python3 -c "import torch, torchvision" 2> /dev/null ||
  { echo "precision.sh: /usr/bin/python3 needs torch and torchvision (bash scripts/setup.sh --python)" >&2; exit 1; }
out="${keep:-$(mktemp -d)}"
[[ -n "$keep" ]] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out"

for size in $sizes; do
  batch="${size%%x*}"
  hw="${size#*x}"
  for mode in train infer; do
    for precision in fp32 bf16; do
      name="${mode}_${precision}_${size}"
      "$bin" bench train --mode "$mode" --precision "$precision" --batch "$batch" --size "$hw" \
        --threads "$threads" --repeats "$repeats" --json "$out/ours_$name.json" > "$out/ours_$name.txt" 2>&1 ||
        { echo "precision.sh: ours $name failed:" >&2; tail -5 "$out/ours_$name.txt" >&2; exit 1; }
      /usr/bin/python3 bench/torch_detection.py --mode "$mode" --precision "$precision" --batch "$batch" \
        --size "$hw" --threads "$threads" --repeats "$repeats" --json "$out/torch_$name.json" \
        > "$out/torch_$name.txt" 2>&1 ||
        { echo "precision.sh: PyTorch $name failed:" >&2; tail -5 "$out/torch_$name.txt" >&2; exit 1; }
    done
  done
done

/usr/bin/python3 - "$out" "$sizes" "$threads" << 'PY'
import json, sys
out, sizes, threads = sys.argv[1], sys.argv[2].split(), sys.argv[3]
def load(side, mode, precision, size):
    return json.load(open(f"{out}/{side}_{mode}_{precision}_{size}.json"))
print(f"bench precision: RetinaNet R50-FPN, {threads} threads, median ms (peak RSS MiB)")
print(f"  {'row':<22} {'ours fp32':>15} {'ours bf16':>15} {'bf16 speed-up':>13} {'memory':>7}"
      f" {'torch fp32':>16} {'torch bf16':>16} {'torch bf16 / ours bf16':>22}")
for size in sizes:
    for mode in ("train", "infer"):
        o32, o16 = load("ours", mode, "fp32", size), load("ours", mode, "bf16", size)
        t32, t16 = load("torch", mode, "fp32", size), load("torch", mode, "bf16", size)
        cell = lambda r: f"{r['median_ms']:7.0f} ({r['peak_rss_mib']:5.0f})"
        print(f"  {mode + ' ' + size:<22} {cell(o32):>15} {cell(o16):>15}"
              f" {o32['median_ms'] / o16['median_ms']:12.2f}x {o16['peak_rss_mib'] / o32['peak_rss_mib']:6.2f}x"
              f" {cell(t32):>16} {cell(t16):>16} {t16['median_ms'] / o16['median_ms']:21.2f}x")
print(f"  (PyTorch's peak RSS includes the interpreter and torch: {load('torch', 'train', 'fp32', sizes[0])['baseline_rss_mib']:.0f} MiB)")
PY
