#!/usr/bin/env bash
# Builds the ghm_retinanet binary (CPU, Release, scripts/build_app.sh) and runs every benchmark
# against its PyTorch / pycocotools peer in the same sitting, rewriting the summary table of
# docs/performance.md (bench/run_all.py says what each suite measures). Needs Debian's
# python3-torch and python3-torchvision and pycocotools from PyPI for /usr/bin/python3.
# Options go to bench/run_all.py, e.g.:
#   bash bench/run_all.sh                         # everything (about an hour on 2 cores)
#   bash bench/run_all.sh --quick --no-doc        # one configuration per suite
#   bash bench/run_all.sh --suites detection --rounds 2 --bccd path/to/bccd
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="$(bash scripts/build_app.sh)"
missing=()
/usr/bin/python3 -c "import torch, torchvision" 2>/dev/null || missing+=(python3-torch python3-torchvision)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y --no-install-recommends "${missing[@]}"
  else echo "run_all: install ${missing[*]} (Debian packages) first" >&2; exit 1; fi
fi
/usr/bin/python3 -c "import pycocotools" 2>/dev/null ||
  /usr/bin/python3 -m pip install --break-system-packages --quiet pycocotools
exec /usr/bin/python3 bench/run_all.py --ours "$bin" "$@"
