# shellcheck shell=bash
# Sourced by the GPU scripts (scripts/gpu_check.sh, bench/gpu/run.sh): makes the CUDA runtime,
# cuBLAS and cuDNN findable, preferring the system's. Set ghm_cuda_binary to a built program first
# (e.g. build/bin/ghm_retinanet) to check the CUDA libraries it needs (`ldd`: "not found");
# without it the check is `ldconfig -p` and LD_LIBRARY_PATH for libcudart.so.13, libcublas.so.13,
# libcublasLt.so.13 and libcudnn.so.9.
#
#   system libraries complete        -> used as they are; nothing added
#   some missing, PyTorch installed  -> the nvidia/*/lib folders of its nvidia-* Python wheels go on
#                                       LD_LIBRARY_PATH (after the caller's own entries)
#
# Exports:
#   GHM_CUDA_LIBS_SOURCE   "system", "PyTorch wheels (<python>)" or "none found"
#   GHM_CUDA_LIBS_MISSING  the libraries still not found, space-separated ("" when none)
#   GHM_TORCH_PYTHON       the first of $PYTHON, python3, /usr/bin/python3 that imports torch ("" if none)
# and prints the choice on stderr.

# The CUDA libraries (cudart, cuBLAS, cuDNN) that the dynamic loader cannot find now, one a line.
ghm_missing_cuda_libs() {
  if [[ -n "${ghm_cuda_binary:-}" && -x "$ghm_cuda_binary" ]]; then
    ldd "$ghm_cuda_binary" 2> /dev/null | awk '/=> not found/ && $1 ~ /^lib(cudart|cublas|cudnn)/ {print $1}'
    return 0
  fi
  local lib dir found dirs=() cache
  IFS=: read -r -a dirs <<< "${LD_LIBRARY_PATH:-}"
  cache="$(ldconfig -p 2> /dev/null || true)"  # read whole: `ldconfig -p | grep -q` dies of SIGPIPE
  for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9; do
    found=0
    grep -q "^[[:space:]]*$lib " <<< "$cache" && found=1
    for dir in "${dirs[@]}"; do
      [[ -n "$dir" && -e "$dir/$lib" ]] && found=1
    done
    ((found)) || echo "$lib"
  done
  return 0
}

# The nvidia/*/lib folders of a Python's nvidia-* wheels, ':'-joined ("" when none).
ghm_wheel_lib_dirs() {
  "$1" - << 'PYEOF' 2> /dev/null || true
import glob, os
try:
    import nvidia
except ImportError:
    raise SystemExit
roots = list(getattr(nvidia, "__path__", []))
print(":".join(sorted({d for r in roots for d in glob.glob(os.path.join(r, "*", "lib"))})))
PYEOF
}

GHM_TORCH_PYTHON=""
for ghm_py in ${PYTHON:-} python3 /usr/bin/python3; do
  command -v "$ghm_py" > /dev/null || continue
  "$ghm_py" -c "import torch" 2> /dev/null || continue
  GHM_TORCH_PYTHON="$ghm_py"
  break
done

ghm_missing="$(ghm_missing_cuda_libs | sort -u | tr '\n' ' ')"
if [[ -z "${ghm_missing// /}" ]]; then
  GHM_CUDA_LIBS_SOURCE="system"
else
  GHM_CUDA_LIBS_SOURCE="none found"
  if [[ -n "$GHM_TORCH_PYTHON" ]]; then
    ghm_libs="$(ghm_wheel_lib_dirs "$GHM_TORCH_PYTHON")"
    if [[ -n "$ghm_libs" ]]; then
      export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$ghm_libs"
      GHM_CUDA_LIBS_SOURCE="PyTorch wheels ($GHM_TORCH_PYTHON)"
      ghm_missing="$(ghm_missing_cuda_libs | sort -u | tr '\n' ' ')"
    fi
  fi
fi
GHM_CUDA_LIBS_MISSING="$(echo "$ghm_missing" | xargs)"
echo "CUDA libraries: $GHM_CUDA_LIBS_SOURCE${GHM_CUDA_LIBS_MISSING:+; still not found: $GHM_CUDA_LIBS_MISSING}" >&2
unset ghm_py ghm_libs ghm_missing
export GHM_TORCH_PYTHON GHM_CUDA_LIBS_SOURCE GHM_CUDA_LIBS_MISSING
