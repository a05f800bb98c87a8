#!/usr/bin/env bash
# Runs every test suite on a machine with an NVIDIA GPU, from a build made elsewhere or here, and
# fails unless the GPU suites actually ran (a skipped GPU suite is a failure here, not a pass).
#
#   bash scripts/gpu_check.sh [--build-dir DIR] [--no-build]
#
#   --build-dir DIR   a CUDA build (default: build/); built first unless --no-build
#   --no-build        use DIR as it is (e.g. a build folder carried from another machine; then
#                     it must have been configured with this machine's GPU architecture, e.g.
#                     -DCMAKE_CUDA_ARCHITECTURES=90 for an H100)
#
# The CUDA runtime, cuBLAS and cuDNN come from the system, or, where they are not installed
# system-wide, from the nvidia-* Python wheels that a PyTorch installation brings: their lib/
# folders are added to LD_LIBRARY_PATH. Prints the GPU found, the ctest summary and the GPU
# suites' own output.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$repo_root/build"
build=1
while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir="$2"; shift ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader ||
  echo "gpu_check.sh: nvidia-smi not found (the driver may still be usable)"

# cuDNN / cuBLAS from pip wheels (nvidia/<lib>/lib), for any python3 that has them.
for py in python3 /usr/bin/python3; do
  command -v "$py" > /dev/null || continue
  libs="$("$py" - << 'EOF' 2> /dev/null || true
import glob, os
try:
    import nvidia
except ImportError:
    raise SystemExit
roots = list(getattr(nvidia, "__path__", []))
print(":".join(sorted({d for r in roots for d in glob.glob(os.path.join(r, "*", "lib"))})))
EOF
)"
  if [[ -n "$libs" ]]; then
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "gpu_check.sh: CUDA libraries from $py's nvidia wheels"
    break
  fi
done

if ((build)); then
  cmake -S "$repo_root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DGHM_CUDA=ON > /dev/null
  cmake --build "$build_dir" -j "$(nproc)"
fi
[[ -x "$build_dir/bin/test_cuda" ]] || { echo "gpu_check.sh: $build_dir has no test_cuda (not a CUDA build)" >&2; exit 1; }

"$build_dir/bin/ghm_retinanet" --version || true
set +e
"$build_dir/bin/test_cuda"
cuda_rc=$?
set -e
if ((cuda_rc == 77)); then
  echo "gpu_check.sh: the GPU suites were skipped: no usable GPU or driver here" >&2
  exit 1
fi
ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure | tail -n 5
((cuda_rc == 0)) || { echo "gpu_check.sh: GPU suites failed (exit $cuda_rc)" >&2; exit 1; }
echo "gpu_check.sh: GPU suites passed"
