#!/usr/bin/env bash
# Data-parallel training throughput on this machine: the shapes config (configs/shapes_ghm.yaml,
# batch 8 per process) for one epoch of the same 400 images as
#   1 process  x 1 thread,   2 processes x 1 thread (mpirun),   1 process x 2 threads,
# in that order, one at a time (nothing else should run), and 2 x 1 again with 2 MiB buckets, so
# that most of the exchange starts during the backward, in float32 and with bf16 on the wire. Images/s is the job's images over the
# median iteration time after the first 5 iterations; the 2-process rows also give the share of
# the iteration spent waiting for the gradient exchange after the backward (comm_time), and the
# bytes and buckets of a step. The goal (docs/performance.md, "Data parallel"): 2 x 1 at 1.8x the 1 x 1 throughput or
# more.
#
#   bash bench/distributed.sh [--images N] [--keep DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
images=400
keep=""
while (($# > 0)); do
  case "$1" in
    --images) images="$2"; shift ;;
    --keep) keep="$2"; shift ;;
    -h | --help) sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "distributed.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
command -v mpirun > /dev/null || { echo "distributed.sh: mpirun not found (Debian: openmpi-bin)" >&2; exit 1; }
bin="$(bash scripts/build_app.sh)"
out="${keep:-$(mktemp -d)}"
[[ -n "$keep" ]] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out"
"$bin" make-shapes --out "$out/shapes" --train "$images" --val 8 --seed 0 > /dev/null
# Open MPI as root and with more processes than cores where needed; no binding (the OS places).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none

run() {  # name processes threads [more --set options]
  local name="$1" np="$2" threads="$3"
  shift 3
  OMP_NUM_THREADS="$threads" mpirun -np "$np" "$bin" train --config configs/shapes_ghm.yaml \
    --work-dir "$out/$name" --set data.root="$out/shapes" --set train.threads="$threads" \
    --set train.epochs=1 --set train.log_interval=1 --set train.warmup_iters=10 "$@" > "$out/$name.out" 2>&1 ||
    { echo "distributed.sh: $name failed, see $out/$name.out" >&2; tail -5 "$out/$name.out" >&2; exit 1; }
}
run one_by_one 1 1
run two_by_one 2 1
run two_by_one_small 2 1 --set dist.bucket_mb=2
run two_by_one_bf16 2 1 --set dist.bucket_mb=2 --set dist.grad_precision=bf16
run one_by_two 1 2

/usr/bin/python3 - "$out" << 'PY'
import json, statistics, sys
out = sys.argv[1]
rows = {}
for name, label in (("one_by_one", "1 process x 1 thread"), ("two_by_one", "2 processes x 1 thread"),
                    ("two_by_one_small", "  the same, 2 MiB buckets"), ("two_by_one_bf16", "  and bf16 on the wire"),
                    ("one_by_two", "1 process x 2 threads")):
    lines = [json.loads(l) for l in open(f"{out}/{name}/log.jsonl") if l.strip()][5:]
    t = statistics.median(l["time"] for l in lines)
    comm = statistics.median(l["comm_time"] for l in lines)
    images = 8 * lines[0]["processes"]
    rows[name] = (label, images / t, comm / t, t)
base = rows["one_by_one"][1]
print("bench distributed: shapes_ghm, batch 8 per process, median iteration after the 5th")
print(f"  {'setting':<26} {'images/s':>9} {'vs 1x1':>7} {'exchange wait':>14}")
for label, ips, share, t in rows.values():
    print(f"  {label:<26} {ips:9.1f} {ips / base:6.2f}x {100 * share:13.1f}%")
PY
grep -h "^data parallel:" "$out/two_by_one.out" "$out/two_by_one_small.out" "$out/two_by_one_bf16.out" || true
