#!/usr/bin/env bash
# Installs the build packages (scripts/setup.sh) and builds the ghm_retinanet binary alone, CPU
# only and without the tests, into build-demo/; used by demo.sh and ablation.sh. Build output goes
# to stderr; the last line on stdout is the binary's path, relative to the repository root.
#
#   bin="$(bash scripts/build_app.sh)"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >&2
build_dir=build-demo
configure=(cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DGHM_CUDA=OFF -DGHM_BUILD_TESTS=OFF)
[[ -f "$build_dir/CMakeCache.txt" ]] || configure+=(-G Ninja)
"${configure[@]}" > /dev/null
cmake --build "$build_dir" --target ghm_retinanet -j "$(nproc)" >&2
echo "$build_dir/bin/ghm_retinanet"
