#!/usr/bin/env bash
# The whole detector on the CPU in minutes: installs what the build needs (Debian packages), builds
# ghm_retinanet, writes the synthetic shapes dataset, pretrains the backbone on synthetic
# classification images (the paper's ImageNet start, docs/pretrain.md), fine-tunes a RetinaNet
# with GHM-C and GHM-R from it, evaluates it with the COCO metrics, and draws its detections on
# validation images.
#
#   bash scripts/demo.sh [--threads N] [--epochs N]
#
# Everything goes to data/shapes (the dataset), work_dirs/demo_backbone (the pretrained backbone)
# and work_dirs/demo (log, checkpoints, loss plot, detections). Running it again regenerates the
# same dataset, reuses the pretrained backbone of the same config and fine-tunes anew.
set -euo pipefail

threads=0
epochs=""
while (($# > 0)); do
  case "$1" in
    --threads) threads="$2"; shift ;;
    --epochs) epochs="$2"; shift ;;
    -h | --help) sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "demo.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
bin="$(bash scripts/build_app.sh)"

data=data/shapes
work=work_dirs/demo
backbone=work_dirs/demo_backbone
config=configs/shapes_demo.yaml
"$bin" make-shapes --out "$data" --train 6000 --val 200 --seed 0

# The config fine-tunes with convolutions in bf16 (docs/precision.md); a CPU without AVX-512 BF16
# runs them in float32 instead (slower, the same AP within 0.01).
precision=()
if ! grep -qw avx512_bf16 /proc/cpuinfo 2> /dev/null; then
  echo "demo: this CPU has no AVX-512 BF16: training in fp32 (slower than the documented times)"
  precision=(--set train.precision=fp32 --set test.precision=fp32)
fi

start=$(date +%s)
"$bin" pretrain --config "$config" --work-dir "$backbone" --reuse --overwrite --set "pretrain.threads=$threads"
pretrained=$(date +%s)

rm -rf "$work"
overrides=(--set "data.root=$data" --set "train.threads=$threads"
           --set "train.init_weights=$backbone/backbone.safetensors" "${precision[@]}")
[[ -n "$epochs" ]] && overrides+=(--set "train.epochs=$epochs")
"$bin" train --config "$config" --work-dir "$work" "${overrides[@]}"
trained=$(date +%s)
"$bin" eval --config "$config" --checkpoint "$work" --out "$work/val_detections.json" \
  --json "$work/val_stats.json" "${overrides[@]}"
done_at=$(date +%s)
"$bin" plot --log "$work/log.jsonl" --out "$work/loss.png"
"$bin" detect --config "$config" --checkpoint "$work" --out "$work/detections" "${overrides[@]}" \
  "$data"/val/00000{1,2,3,4,5,6,7,8}.jpg > /dev/null

echo
echo "demo: pretrained in $((pretrained - start)) s, fine-tuned in $((trained - pretrained)) s," \
  "evaluated in $((done_at - trained)) s"
echo "demo: COCO metrics above; detections drawn in $work/detections/, loss curves in $work/loss.png,"
echo "      training log and checkpoints in $work/, the pretrained backbone in $backbone/"
