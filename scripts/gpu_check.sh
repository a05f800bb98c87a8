#!/usr/bin/env bash
# The GPU check, for a machine with one NVIDIA GPU and no internet access: runs every test suite
# (a skipped GPU suite is a failure here, not a pass), then the GPU benchmarks against PyTorch on
# the same GPU, and writes a short report: device, driver, test counts, benchmark tables.
#
#   bash scripts/gpu_check.sh [--build-dir DIR] [--no-build] [--no-bench] [--report FILE]
#
#   --build-dir DIR   a CUDA build (default: build/); built first unless --no-build
#   --no-build        use DIR as it is (e.g. a build folder carried from another machine; then
#                     it must have been configured with this machine's GPU architecture, e.g.
#                     -DCMAKE_CUDA_ARCHITECTURES=90 for an H100)
#   --no-bench        tests only
#   --report FILE     where the report goes (default: DIR/gpu_report.md); the benchmark tables
#                     are also appended to docs/gpu-results.md by bench/gpu/run.sh
#
# The CUDA runtime, cuBLAS and cuDNN come from the system or from the nvidia-* Python wheels of a
# PyTorch installation (scripts/cuda_env.sh).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$repo_root/build"
build=1
bench=1
report=""
while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir="$(realpath -m "$2")"; shift ;;
    --no-build) build=0 ;;
    --no-bench) bench=0 ;;
    --report) report="$2"; shift ;;
    -h | --help) sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
report="${report:-$build_dir/gpu_report.md}"
# shellcheck source=scripts/cuda_env.sh
source "$repo_root/scripts/cuda_env.sh"

gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null || echo "unknown (no nvidia-smi)")"
echo "gpu_check.sh: GPU $gpu"

if ((build)); then
  cmake -S "$repo_root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DGHM_CUDA=ON > /dev/null
  cmake --build "$build_dir" -j "$(nproc)"
fi
[[ -x "$build_dir/bin/test_cuda" ]] || { echo "gpu_check.sh: $build_dir has no test_cuda (not a CUDA build)" >&2; exit 1; }
version="$("$build_dir/bin/ghm_retinanet" --version 2>&1 || true)"
echo "$version"

# The GPU suites one by one, with their own output: each must run (exit 77 = skipped = failure).
gpu_failed=()
gpu_lines=()
for suite in "$build_dir"/bin/test_cuda*; do
  name="$(basename "$suite")"
  set +e
  "$suite" 2>&1 | tee "$build_dir/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  summary="$(grep -E '^\[doctest\] (test cases|assertions)' "$build_dir/$name.log" | tr -s ' ' | paste -sd ';' -)"
  case $rc in
    0) gpu_lines+=("| $name | passed | $summary |") ;;
    77) gpu_lines+=("| $name | SKIPPED (no usable GPU) | |"); gpu_failed+=("$name") ;;
    *) gpu_lines+=("| $name | FAILED (exit $rc) | $summary |"); gpu_failed+=("$name") ;;
  esac
done

# Every suite through ctest (the CPU suites too), its one-line summary kept.
set +e
ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure > "$build_dir/ctest.log" 2>&1
ctest_rc=$?
set -e
tail -n 15 "$build_dir/ctest.log"
ctest_summary="$(grep -E 'tests passed|tests failed' "$build_dir/ctest.log" | tail -n 1)"

bench_rc=0
if ((bench)); then
  set +e
  bash "$repo_root/bench/gpu/run.sh" --build-dir "$build_dir" --json "$build_dir/gpu_bench.json"
  bench_rc=$?
  set -e
fi

{
  echo "# GPU check, $(date -u +%Y-%m-%d)"
  echo
  echo "- GPU: $gpu"
  echo "- build: $(echo "$version" | head -n 1)"
  echo "- ctest: $ctest_summary (exit $ctest_rc)"
  echo
  echo "| GPU suite | result | doctest summary |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${gpu_lines[@]}"
  if ((bench)); then
    echo
    if ((bench_rc == 0)); then echo "Benchmarks: appended to docs/gpu-results.md (raw: $build_dir/gpu_bench.json)."
    else echo "Benchmarks: FAILED (exit $bench_rc)."; fi
  fi
} > "$report"
echo "gpu_check.sh: report written to $report"

if ((${#gpu_failed[@]})); then
  echo "gpu_check.sh: GPU suites not passed: ${gpu_failed[*]}" >&2
  exit 1
fi
((ctest_rc == 0)) || { echo "gpu_check.sh: ctest failed" >&2; exit 1; }
((bench_rc == 0)) || { echo "gpu_check.sh: the benchmarks failed" >&2; exit 1; }
echo "gpu_check.sh: all suites passed"
