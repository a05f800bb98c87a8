#!/usr/bin/env bash
# Installs the Debian packages that building and testing ghm_retinanet needs, and only those that
# are missing. Safe to run any number of times; downloads nothing but those packages.
#
#   bash scripts/setup.sh            # build packages
#   bash scripts/setup.sh --python   # also the reference tooling (tools/, bench/): torch, numpy
#   bash scripts/setup.sh --fuzz     # also clang, libFuzzer and clang's OpenMP (scripts/fuzz.sh)
#
# The CUDA toolkit, cuBLAS and cuDNN are not installed here: the build finds them when present
# (-DGHM_CUDA=AUTO) and builds the CPU backend alone otherwise.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config libeigen3-dev libdnnl-dev libstb-dev libcli11-dev doctest-dev git
          libopenmpi-dev openmpi-bin)
python_packages=(python3-torch python3-numpy)
fuzz_packages=(clang libclang-rt-14-dev libomp-dev)

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

for arg in "$@"; do
  case "$arg" in
    --python) packages+=("${python_packages[@]}") ;;
    --fuzz) packages+=("${fuzz_packages[@]}") ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${packages[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "setup.sh: all ${#packages[@]} required packages are installed"
  exit 0
fi

install_command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [[ "$(id -u)" != 0 ]]; then
  echo "setup.sh: missing packages: ${missing[*]}" >&2
  echo "setup.sh: install them as root, e.g.: sudo sh -c '$install_command'" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

still_missing=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still_missing+=("$pkg")
done
if ((${#still_missing[@]} > 0)); then
  echo "setup.sh: still missing after apt-get install: ${still_missing[*]}" >&2
  exit 1
fi
echo "setup.sh: installed ${missing[*]}"
