#!/usr/bin/env bash
# The GPU check, for a machine with one NVIDIA GPU and no internet access: checks the driver and
# the libraries, runs every GPU suite on its own (a skipped GPU suite is a failure here, not a
# pass), the CPU suites through ctest, then the GPU benchmarks against PyTorch on the same GPU,
# and always writes a report, however it ends (a suite skipped or crashed, ctest or the benchmarks
# failed, the check itself interrupted).
#
#   bash scripts/gpu_check.sh [--build-dir DIR] [--no-build] [--no-bench] [--report FILE]
#
#   --build-dir DIR   a CUDA build (default: build/); built first unless --no-build
#   --no-build        use DIR as it is, e.g. a build folder carried from another machine: it must
#                     be configured for this GPU (-DCMAKE_CUDA_ARCHITECTURES=90 for an H100) and
#                     this CPU (-DGHM_NATIVE=OFF when built elsewhere), and without MPI
#                     (-DGHM_MPI=OFF) unless that machine has Open MPI's libraries and mpirun;
#                     it may have been configured at another path (its ctest files are rewritten to DIR)
#   --no-bench        tests only
#   --report FILE     where the report goes (default: DIR/gpu_report.md); the benchmark tables
#                     are also appended to docs/gpu-results.md by bench/gpu/run.sh
#
# The report: machine (nvidia-smi, GPUs, driver, the driver's CUDA version against the toolkit the
# build used), where the CUDA libraries come from and any library `ldd` does not find, the build,
# each GPU suite's result and doctest counts, the ctest summary, the benchmarks, and a verdict with
# the problems in plain words. Exit 0 only when every GPU suite, ctest and the benchmarks passed.
#
# The tests read their data from this checkout (GHM_SOURCE_DIR, tests/test_paths.h); the CUDA
# runtime, cuBLAS and cuDNN come from the system or, where missing, from the nvidia-* Python
# wheels of a PyTorch installation (scripts/cuda_env.sh).
set -uo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$repo_root/build"
build=1
bench=1
report=""
while (($# > 0)); do
  case "$1" in
    --build-dir) (($# >= 2)) || { echo "gpu_check.sh: --build-dir needs a directory" >&2; exit 2; }
                 build_dir="$(realpath -m "$2")"; shift ;;
    --no-build) build=0 ;;
    --no-bench) bench=0 ;;
    --report) (($# >= 2)) || { echo "gpu_check.sh: --report needs a file" >&2; exit 2; }
              report="$(realpath -m "$2")"; shift ;;
    -h | --help) sed -n '2,26s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
report="${report:-$build_dir/gpu_report.md}"
log_dir="$build_dir/gpu_check_logs"
export GHM_SOURCE_DIR="$repo_root"

# --- What the report is made of; filled in as the check goes, written by the EXIT trap. ---
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
stage="starting"          # what the check was doing; kept in the report when it is interrupted
machine_lines=()          # "- key: value" lines
build_lines=()
gpu_lines=()              # table rows of the GPU suites
problems=()               # plain-language reasons the check did not pass
ctest_line="not run"
bench_line="not run"
finished=0

problem() { problems+=("$*"); echo "gpu_check.sh: $*" >&2; }

# shellcheck disable=SC2317  # run by the EXIT trap
write_report() {
  local rc=$?
  ((finished)) || problems+=("the check stopped early (exit $rc) while: $stage")
  mkdir -p "$(dirname "$report")" 2> /dev/null
  {
    echo "# GPU check, $started"
    echo
    echo "## Machine"
    printf '%s\n' "${machine_lines[@]}"
    echo
    echo "## Build"
    printf '%s\n' "${build_lines[@]}"
    echo
    echo "## Tests"
    echo
    echo "| GPU suite | result | doctest summary |"
    echo "| --- | --- | --- |"
    if ((${#gpu_lines[@]})); then printf '%s\n' "${gpu_lines[@]}"; else echo "| (none run) | | |"; fi
    echo
    echo "- ctest (the CPU suites): $ctest_line"
    echo "- benchmarks: $bench_line"
    echo
    echo "## Verdict"
    if ((${#problems[@]} == 0)); then
      echo "PASSED: every GPU suite, ctest and the benchmarks passed."
    else
      echo "FAILED:"
      printf -- '- %s\n' "${problems[@]}"
    fi
  } > "$report" 2> /dev/null || echo "gpu_check.sh: cannot write the report to $report" >&2
  echo "gpu_check.sh: report written to $report" >&2
  if ((rc == 0 && ${#problems[@]} > 0)); then rc=1; fi
  exit "$rc"
}
trap write_report EXIT
trap 'stage="$stage (interrupted)"; stop_child; exit 130' INT
trap 'stage="$stage (terminated)"; stop_child; exit 143' TERM

# Runs a command in the background, its output into LOG, and waits for it: a signal to the check
# interrupts `wait` at once (bash defers traps while a foreground command runs), and the trap
# stops the command too.        run_logged LOG COMMAND...
child=""
run_logged() {
  local log="$1" rc
  shift
  "$@" > "$log" 2>&1 &
  child=$!
  wait "$child"
  rc=$?
  child=""
  return "$rc"
}
# shellcheck disable=SC2317  # run by the INT and TERM traps
stop_child() { [[ -z "$child" ]] || kill "$child" 2> /dev/null || true; }

# "N.M" of a version text ("580.82.07" -> 580, "13.0.88" -> 13.0); "" when there is none.
major_of() { sed -n 's/^\([0-9][0-9]*\).*/\1/p' <<< "$1"; }
major_minor_of() { sed -n 's/^\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' <<< "$1"; }

# The minimum Linux driver for each CUDA major version, from NVIDIA's "CUDA Compatibility" guide,
# Minor Version Compatibility, Table 1 "CUDA Toolkit 11.x, 12.x, and 13.x Driver Version Ranges"
# (docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html; the full table is in
# the CUDA Toolkit Release Notes): a build with toolkit 13.x runs on drivers >= 580, 12.x on
# >= 525, 11.x on >= 450 (with minor version compatibility; older drivers fail to start CUDA).
min_driver_for_cuda() {
  case "$1" in
    13) echo 580 ;;
    12) echo 525 ;;
    11) echo 450 ;;
    *) echo "" ;;
  esac
}

# --- 1. The driver and the GPU. ---
stage="checking the driver"
driver=""
if ! command -v nvidia-smi > /dev/null; then
  machine_lines+=("- nvidia-smi: NOT FOUND (no NVIDIA driver installed, or not on PATH)")
  problem "no nvidia-smi: the NVIDIA driver is missing or not on PATH"
else
  machine_lines+=("- nvidia-smi: $(command -v nvidia-smi)")
  gpus="$(nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader 2>&1)"
  smi_rc=$?
  if ((smi_rc != 0)) || [[ -z "$gpus" ]]; then
    machine_lines+=("- GPUs: none (nvidia-smi exit $smi_rc: $(head -n 1 <<< "$gpus"))")
    problem "nvidia-smi finds no GPU (exit $smi_rc): $(head -n 1 <<< "$gpus")"
  else
    while IFS= read -r line; do machine_lines+=("- GPU: $line"); done <<< "$gpus"
    driver="$(head -n 1 <<< "$gpus" | awk -F', ' '{print $3}')"
  fi
  driver_cuda="$(nvidia-smi 2> /dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -n 1)"
  machine_lines+=("- driver: ${driver:-unknown}, its CUDA version: ${driver_cuda:-unknown}")
fi
# The driver's own library, which the CUDA runtime loads at start-up (not a link dependency).
if grep -q 'libcuda\.so\.1 ' <<< "$(ldconfig -p 2> /dev/null)"; then
  machine_lines+=("- driver library libcuda.so.1: found")
else
  machine_lines+=("- driver library libcuda.so.1: NOT FOUND by the loader (ldconfig -p)")
  problem "libcuda.so.1 (the driver's library) is not found: no CUDA program can start"
fi
echo "gpu_check.sh: driver ${driver:-unknown}" >&2

# --- 2. The build. ---
stage="building"
if ((build)); then
  cmake -S "$repo_root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DGHM_CUDA=ON > /dev/null ||
    { problem "cmake configure failed in $build_dir"; exit 1; }
  cmake --build "$build_dir" -j "$(nproc)" || { problem "the build failed in $build_dir"; exit 1; }
fi
build_lines+=("- folder: $build_dir")
if [[ ! -x "$build_dir/bin/test_cuda" ]]; then
  problem "$build_dir has no bin/test_cuda (not a CUDA build, or not built)"
  exit 1
fi
configured_in="$(sed -n 's/^CMAKE_CACHEFILE_DIR:INTERNAL=//p' "$build_dir/CMakeCache.txt" 2> /dev/null)"
[[ -n "$configured_in" && "$configured_in" != "$build_dir" ]] && build_lines+=("- configured at: $configured_in")
toolkit="$(sed -n 's/^set(CMAKE_CUDA_COMPILER_VERSION "\(.*\)")$/\1/p' "$build_dir"/CMakeFiles/*/CMakeCUDACompiler.cmake 2> /dev/null | head -n 1)"
build_lines+=("- CUDA toolkit of the build: ${toolkit:-unknown}")

# The driver against the toolkit: the driver's CUDA major at least the toolkit's, and the driver
# version at least NVIDIA's minimum for that major.
if [[ -n "$toolkit" && -n "$driver" ]]; then
  need="$(min_driver_for_cuda "$(major_of "$toolkit")")"
  if [[ -n "$need" ]] && (($(major_of "$driver") < need)); then
    machine_lines+=("- driver check: TOO OLD, CUDA $(major_minor_of "$toolkit") needs a driver >= $need, found $driver")
    problem "driver $driver is too old for CUDA $(major_minor_of "$toolkit") (needs >= $need)"
  elif [[ -n "${driver_cuda:-}" ]] && (($(major_of "$driver_cuda") < $(major_of "$toolkit"))); then
    machine_lines+=("- driver check: TOO OLD, it supports CUDA $driver_cuda, the build uses $toolkit")
    problem "the driver supports CUDA $driver_cuda only; the build uses CUDA $toolkit"
  else
    machine_lines+=("- driver check: ok (CUDA $(major_minor_of "$toolkit") needs >= ${need:-?}, found $driver)")
  fi
else
  machine_lines+=("- driver check: not possible (driver ${driver:-unknown}, toolkit ${toolkit:-unknown})")
fi

# --- 3. The libraries: the system's first, else PyTorch's wheels; then what is still missing. ---
stage="finding the CUDA libraries"
ghm_cuda_binary="$build_dir/bin/ghm_retinanet"  # whose libraries scripts/cuda_env.sh checks
# shellcheck source=scripts/cuda_env.sh
source "$repo_root/scripts/cuda_env.sh"
machine_lines+=("- CUDA libraries from: $GHM_CUDA_LIBS_SOURCE")
for binary in "$build_dir/bin/ghm_retinanet" "$build_dir/bin/test_cuda"; do
  [[ -x "$binary" ]] || { problem "$binary is missing"; continue; }
  not_found="$(ldd "$binary" 2>&1 | awk '/not found/ {print $1}' | sort -u | xargs)"
  if [[ -n "$not_found" ]]; then
    machine_lines+=("- libraries not found for bin/$(basename "$binary"): $not_found")
    problem "bin/$(basename "$binary") cannot load: $not_found"
  else
    machine_lines+=("- libraries of bin/$(basename "$binary"): all found")
  fi
done
version="$("$build_dir/bin/ghm_retinanet" --version 2>&1)"
version_rc=$?
build_lines+=("- ghm_retinanet --version (exit $version_rc): $(head -n 1 <<< "$version")")
while IFS= read -r line; do build_lines+=("  - $line"); done < <(tail -n +2 <<< "$version")
echo "$version"

# --- 4. The GPU suites one by one, each with its own log: each must run and pass. ---
mkdir -p "$log_dir"
for suite in "$build_dir"/bin/test_cuda*; do
  name="$(basename "$suite")"
  stage="running $name"
  run_logged "$log_dir/$name.log" "$suite"
  rc=$?
  cat "$log_dir/$name.log"
  summary="$(grep -E '^\[doctest\] (test cases|assertions)' "$log_dir/$name.log" | tr -s ' ' |
    sed -e 's/^\[doctest\] //' -e 's/ *|$//' -e 's/ | /, /g' | paste -sd ';' - | sed 's/;/; /g' || true)"
  [[ -n "$summary" ]] || summary="no doctest summary (see $log_dir/$name.log)"
  case $rc in
    0) gpu_lines+=("| $name | passed | $summary |") ;;
    77) why="$(sed -n 's/^SKIPPED: //p' "$log_dir/$name.log" | head -n 1)"
        gpu_lines+=("| $name | SKIPPED: ${why:-no usable GPU} | |")
        problem "$name was skipped (no usable GPU), so it did not run" ;;
    *) if ((rc > 128)); then what="killed by SIG$(kill -l $((rc - 128)) 2> /dev/null || echo $((rc - 128)))"
       else what="exit $rc"; fi
       ((rc == 132)) && what="$what (illegal instruction: built for another CPU? configure with -DGHM_NATIVE=OFF)"
       ((rc == 127)) && what="$what (a shared library or the program not found)"
       gpu_lines+=("| $name | FAILED ($what) | $summary |")
       problem "$name failed ($what)" ;;
  esac
done

# --- 5. The CPU suites through ctest (the GPU suites, named "... (GPU)", ran above). A build
# folder configured at another path names that path in its ctest files (CTestTestfile.cmake and
# the test lists that doctest_discover_tests wrote into tests/): there the old folder's path is
# replaced by this one, in place (the folder is a copy made for this machine), so that ctest runs
# the binaries here. Running again finds nothing left to replace. ---
stage="running ctest"
if [[ -n "$configured_in" && "$configured_in" != "$build_dir" ]]; then
  rewritten=0
  while IFS= read -r f; do
    grep -qF "$configured_in" "$f" || continue
    sed -i "s|$configured_in|$build_dir|g" "$f"
    rewritten=$((rewritten + 1))
  done < <(find "$build_dir" -name CTestTestfile.cmake -o -path "$build_dir/tests/*-*.cmake")
  ((rewritten == 0)) || build_lines+=("- ctest files rewritten from $configured_in to $build_dir: $rewritten")
fi
run_logged "$log_dir/ctest.log" ctest --test-dir "$build_dir" -E '\(GPU\)$' -j "$(nproc)" --output-on-failure
ctest_rc=$?
tail -n 15 "$log_dir/ctest.log"
ctest_summary="$(grep -E 'tests passed|tests failed|No tests were found' "$log_dir/ctest.log" | tail -n 1 || true)"
ctest_line="${ctest_summary:-no summary} (exit $ctest_rc; log $log_dir/ctest.log)"
((ctest_rc == 0)) || problem "ctest failed (exit $ctest_rc): ${ctest_summary:-see $log_dir/ctest.log}"

# --- 6. The benchmarks. ---
if ((bench)); then
  stage="running the benchmarks"
  run_logged "$log_dir/bench.log" bash "$repo_root/bench/gpu/run.sh" --build-dir "$build_dir" \
    --json "$log_dir/gpu_bench.json"
  bench_rc=$?
  cat "$log_dir/bench.log"
  if ((bench_rc == 0)); then
    bench_line="passed; tables appended to docs/gpu-results.md (raw: $log_dir/gpu_bench.json)"
  else
    bench_line="FAILED (exit $bench_rc; log $log_dir/bench.log)"
    problem "the benchmarks failed (exit $bench_rc)"
  fi
else
  bench_line="not run (--no-bench)"
fi

stage="done"
finished=1
((${#problems[@]} == 0)) && echo "gpu_check.sh: all suites passed" >&2
exit 0
