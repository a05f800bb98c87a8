#!/usr/bin/env bash
# The GHM paper's ablation on the synthetic shapes data, every row trained with several seeds and
# reported as mean ± standard deviation, written to docs/ablation.md (or docs/ablation_scratch.md):
#
#   Table 4 (classification loss, with smooth L1):       CE (prior init), focal loss, GHM-C
#   Tables 5, 6 (regression loss, with GHM-C):           smooth L1, ASL1, GHM-R; AP at IoU 0.5 ... 0.9
#   Table 1 (GHM-C unit regions M, with smooth L1):      M = 10, 20, 30, 40
#   Table 2 (time per training iteration, one seed):     CE, GHM-C (unit regions), GHM-C (exact density)
#
#   bash scripts/ablation.sh [--setting pretrained|scratch] [--epochs N] [--seeds "0 1 2"]
#                            [--rows "ce focal ghmc_sl1"] [--no-timing] [--lanes L] [--out FILE] [--adopt]
#
# pretrained (the default, the paper's setting): configs/shapes_pretrained_ghm.yaml, fine-tuned from
#   the backbone that `ghm_retinanet pretrain` makes with that config (reused when it exists), with
#   the reference loss weights: GHM-C 1, GHM-R 10, CE, focal loss, smooth L1 and ASL1 1.
# scratch: configs/shapes_ghm.yaml from random weights, with its GHM-C 10 and GHM-R 1.
#
# Builds like scripts/demo.sh (build-demo/), generates data/shapes_2k (the 2000 training images of
# the shapes seed 0; the demo trains on 6000) if missing, trains into
# work_dirs/ablation/<setting>/<row>/s<seed>, L runs at a time with (cores / L) threads each, and
# evaluates each run on the validation split (a schedule other than 6 epochs trains into
# work_dirs/ablation/<setting>_e<N> and reports in docs/ablation_e<N>.md, so the 6-epoch runs and
# report stay). --rows trains and reports only the
# tables those rows fill (rows: ce focal ghmc_sl1 ghmc_asl1 ghmc_ghmr ghmc_m10 ghmc_m20 ghmc_m40);
# --no-timing leaves Table 2 out. A finished run is kept when its stamp (RUN.stamp: the
# config, every override, the seed and the backbone's checksum) equals what this invocation would
# run; otherwise it is trained again. Rerunning the script so trains only what is missing or
# changed, evaluates again runs whose results lack a field the report reads, and rewrites the
# report. --adopt stamps runs trained before stamps existed (RUN.trained) with the current settings.
set -euo pipefail

setting=pretrained
epochs=6
seeds="0 1 2"
lanes=2
out=""
adopt=0
only_rows=""
timing=1
while (($# > 0)); do
  case "$1" in
    --setting) setting="$2"; shift ;;
    --epochs) epochs="$2"; shift ;;
    --seeds) seeds="$2"; shift ;;
    --lanes) lanes="$2"; shift ;;
    --out) out="$2"; shift ;;
    --rows) only_rows="$2"; shift ;;
    --no-timing) timing=0 ;;
    --adopt) adopt=1 ;;
    -h | --help) sed -n '2,25s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "ablation.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
[[ "$epochs" =~ ^[1-9][0-9]{0,2}$ ]] && ((epochs >= 5)) ||
  { echo "ablation.sh: --epochs must be 5 to 999 (lr steps after 3/4 and 11/12 of them), not '$epochs'" >&2; exit 2; }
[[ "$lanes" =~ ^[1-9][0-9]?$ ]] || { echo "ablation.sh: --lanes must be 1 to 99, not '$lanes'" >&2; exit 2; }
for s in $seeds; do
  [[ "$s" =~ ^[0-9]{1,9}$ ]] || { echo "ablation.sh: --seeds takes numbers, not '$s'" >&2; exit 2; }
done
[[ -n "${seeds// /}" ]] || { echo "ablation.sh: --seeds is empty" >&2; exit 2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
root="work_dirs/ablation/$setting"
((epochs == 6)) || root+="_e$epochs"
case "$setting" in
  pretrained) config=configs/shapes_pretrained_ghm.yaml; out="${out:-docs/ablation$( ((epochs == 6)) || echo "_e$epochs").md}" ;;
  scratch) config=configs/shapes_ghm.yaml; out="${out:-docs/ablation_scratch.md}" ;;
  *) echo "ablation.sh: --setting is pretrained or scratch, not '$setting'" >&2; exit 2 ;;
esac
mkdir -p "$root"
# Every run of one ablation uses the same binary, even if the tree is rebuilt meanwhile.
cp "$(bash scripts/build_app.sh)" "$root/ghm_retinanet.tmp"
mv "$root/ghm_retinanet.tmp" "$root/ghm_retinanet"
bin="$root/ghm_retinanet"

data=data/shapes_2k
[[ -f "$data/val.json" ]] || "$bin" make-shapes --out "$data" --train 2000 --val 200 --seed 0
threads=$(($(nproc) / lanes))
((threads > 0)) || threads=1
steps="[$((epochs * 3 / 4)), $((epochs * 11 / 12))]"
common=(--set "data.root=$data" --set "train.epochs=$epochs" --set "train.steps=$steps" --set train.log_interval=50)
if [[ "$setting" == pretrained ]]; then
  backbone=work_dirs/ablation/backbone
  echo "ablation: pretraining the backbone (or reusing $backbone)"
  "$bin" pretrain --config "$config" --work-dir "$backbone" --reuse --overwrite --set "pretrain.threads=$(nproc)" \
    > "$backbone.log" 2>&1 || { echo "ablation: pretraining failed, see $backbone.log" >&2; exit 1; }
  common+=(--set "train.init_weights=$backbone/backbone.safetensors")
  backbone_sum="$(cksum < "$backbone/backbone.safetensors")"
else
  backbone_sum="none"
fi

sl1=(--set loss.reg.type=sl1 --set loss.reg.loss_weight=1.0)
declare -A row_args=(
  [ce]="${sl1[*]} --set loss.cls.type=ce --set loss.cls.loss_weight=1.0"
  [focal]="${sl1[*]} --set loss.cls.type=focal --set loss.cls.loss_weight=1.0"
  [ghmc_sl1]="${sl1[*]}"
  [ghmc_asl1]="--set loss.reg.type=asl1 --set loss.reg.loss_weight=1.0"
  [ghmc_ghmr]="--set loss.reg.type=ghmr"
  [ghmc_m10]="${sl1[*]} --set loss.cls.bins=10"
  [ghmc_m20]="${sl1[*]} --set loss.cls.bins=20"
  [ghmc_m40]="${sl1[*]} --set loss.cls.bins=40"
)
rows=(ce focal ghmc_sl1 ghmc_asl1 ghmc_ghmr ghmc_m10 ghmc_m20 ghmc_m40)
if [[ -n "${only_rows// /}" ]]; then
  read -r -a rows <<< "$only_rows"
  for row in "${rows[@]}"; do
    [[ -n "${row_args[$row]+set}" ]] || { echo "ablation.sh: --rows: no row '$row' (rows: ${!row_args[*]})" >&2; exit 2; }
  done
fi

# stamp ROW SEED: what decides a run's weights, one item per line.
stamp() {
  local -a args
  read -r -a args <<< "${row_args[$1]}"
  printf '%s\n' "$config" "${common[@]}" "${args[@]}" "train.seed=$2" "backbone=$backbone_sum"
}

# run ROW SEED: trains (unless the same run is stamped) and evaluates into $root/ROW/sSEED.
run() {
  local dir="$root/$1/s$2" log="$root/$1/s$2.log" want
  local -a args
  read -r -a args <<< "${row_args[$1]}"
  want="$(stamp "$1" "$2")"
  mkdir -p "$root/$1"
  if ((adopt)) && [[ -f "$dir.trained" && ! -f "$dir.stamp" ]]; then
    printf '%s\n' "$want" > "$dir.stamp" && rm "$dir.trained"
  fi
  if [[ ! -f "$dir.stamp" || "$(cat "$dir.stamp")" != "$want" ]]; then
    rm -rf "$dir" "$dir.stamp"
    "$bin" train --config "$config" --work-dir "$dir" "${common[@]}" --set "train.seed=$2" \
      --set "train.threads=$threads" "${args[@]}" > "$log" 2>&1 || return 1
    printf '%s\n' "$want" > "$dir.stamp"
  fi
  grep -q '"ap_per_iou"' "$dir/val_stats.json" 2> /dev/null && return 0
  OMP_NUM_THREADS=$threads "$bin" eval --config "$config" --checkpoint "$dir" --json "$dir/val_stats.json" \
    "${common[@]}" "${args[@]}" >> "$log" 2>&1
}

echo "ablation: $setting, ${#rows[@]} rows x seeds ($seeds), $epochs epochs, $lanes at a time"
failed=()
for row in "${rows[@]}"; do
  for seed in $seeds; do
    while (($(jobs -rp | wc -l) >= lanes)); do wait -n || true; done
    (run "$row" "$seed" || { echo "ablation: $row seed $seed failed, see $root/$row/s$seed.log" >&2; exit 1; }) &
  done
done
wait
for row in "${rows[@]}"; do
  for seed in $seeds; do [[ -f "$root/$row/s$seed/val_stats.json" ]] || failed+=("$row/s$seed"); done
done
((${#failed[@]} == 0)) || { echo "ablation: runs without a result: ${failed[*]}" >&2; exit 1; }

# Time per iteration, alone on the machine with every core: the mean of the logged per-iteration
# times after the first log interval, one epoch per loss.
time_run() {
  local dir="$root/time_$1"
  shift
  rm -rf "$dir"
  "$bin" train --config "$config" --work-dir "$dir" "${common[@]}" "${sl1[@]}" --set train.epochs=1 \
    --set train.log_interval=25 --set "train.threads=$(nproc)" "$@" > "$dir.log" 2>&1 ||
    { echo "ablation: the timing run $dir failed, see $dir.log" >&2; return 1; }
  awk -F'"time": ' 'NR > 1 { split($2, a, ","); s += a[1]; n++ }
    END { if (n == 0) exit 1; printf "%.1f", 1000 * s / n }' "$dir/log.jsonl" ||
    { echo "ablation: no timed iterations in $dir/log.jsonl" >&2; return 1; }
}
t_ce="" t_ghmc="" t_exact=""
if ((timing)); then
  echo "ablation: timing CE, GHM-C and the exact density"
  t_ce=$(time_run ce --set loss.cls.type=ce --set loss.cls.loss_weight=1.0)
  t_ghmc=$(time_run ghmc)
  t_exact=$(time_run exact --set loss.cls.type=ghmc_exact)
fi

source scripts/ablation_report.sh
write_report > "$out.tmp"
mv "$out.tmp" "$out"
echo "ablation: wrote $out"
cat "$out"
