#!/usr/bin/env bash
# The GPU benchmarks, ours against PyTorch on the same GPU, for a machine with one NVIDIA GPU, no
# internet access and PyTorch installed: RetinaNet R50-FPN training iteration (GHM losses) at 2 and
# 8 images of 800x1344 and in bf16 / fp16 against torch.autocast, inference images/s, GPU memory
# peaks, GHM-C + GHM-R alone, the cuDNN
# convolutions of RetinaNet at 2x3x800x1216, and elementwise bandwidth against a device copy.
# bench/gpu/run.py says how each is measured; the tables are printed and appended to
# docs/gpu-results.md with the date and the device.
#
#   bash bench/gpu/run.sh [--build-dir DIR] [--quick] [--suites detection,precision,loss,conv,elementwise]
#                         [--no-doc] [--json OUT]
#
# DIR (default build/) must hold a CUDA build of ghm_retinanet for this GPU.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="$repo_root/build"
args=()
while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir="$(realpath -m "$2")"; shift ;;
    -h | --help) sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
ghm_cuda_binary="$build_dir/bin/ghm_retinanet"  # whose libraries scripts/cuda_env.sh checks
# shellcheck source=scripts/cuda_env.sh
source "$repo_root/scripts/cuda_env.sh"
[[ -n "$GHM_TORCH_PYTHON" ]] || { echo "bench/gpu/run.sh: no python with torch found (set PYTHON)" >&2; exit 1; }
[[ -x "$build_dir/bin/ghm_retinanet" ]] || { echo "bench/gpu/run.sh: no $build_dir/bin/ghm_retinanet" >&2; exit 1; }
exec "$GHM_TORCH_PYTHON" "$repo_root/bench/gpu/run.py" --ours "$build_dir/bin/ghm_retinanet" "${args[@]}"
