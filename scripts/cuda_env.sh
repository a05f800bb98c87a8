# Sourced by the GPU scripts (scripts/gpu_check.sh, bench/gpu/run.sh): where the CUDA runtime,
# cuBLAS and cuDNN are not installed system-wide, takes them from the nvidia-* Python wheels that a
# PyTorch installation brings (their nvidia/<lib>/lib folders go on LD_LIBRARY_PATH), and names a
# Python with torch in GHM_TORCH_PYTHON (the first of $PYTHON, python3, /usr/bin/python3 that
# imports torch; empty if none).
GHM_TORCH_PYTHON=""
for ghm_py in ${PYTHON:-} python3 /usr/bin/python3; do
  command -v "$ghm_py" > /dev/null || continue
  "$ghm_py" -c "import torch" 2> /dev/null || continue
  GHM_TORCH_PYTHON="$ghm_py"
  ghm_libs="$("$ghm_py" - << 'PYEOF' 2> /dev/null || true
import glob, os
try:
    import nvidia
except ImportError:
    raise SystemExit
roots = list(getattr(nvidia, "__path__", []))
print(":".join(sorted({d for r in roots for d in glob.glob(os.path.join(r, "*", "lib"))})))
PYEOF
)"
  if [[ -n "$ghm_libs" ]]; then
    export LD_LIBRARY_PATH="$ghm_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "CUDA libraries from $ghm_py's nvidia wheels" >&2
  fi
  break
done
unset ghm_py ghm_libs
export GHM_TORCH_PYTHON
