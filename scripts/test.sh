#!/usr/bin/env bash
# Builds ghm_retinanet and runs every test suite with ctest, then prints one closing line:
#   N passed, N failed, N skipped
#
#   bash scripts/test.sh [options]
#
#   --sanitize        AddressSanitizer + UndefinedBehaviorSanitizer build (RelWithDebInfo) in build-asan
#   --no-cuda         build without the CUDA backend (-DGHM_CUDA=OFF); default -DGHM_CUDA=AUTO
#   --build-dir DIR   build directory (default: build/, or build-asan/ with --sanitize, in the repo)
#   -j N              parallel build jobs and tests (default: nproc)
#   -h, --help        show this help
#
# Installs missing Debian build packages first (scripts/setup.sh). With CI=true warnings are
# errors (-DGHM_WERROR=ON). Skipped tests (e.g. GPU suites on a machine without a GPU) are listed
# as skipped, never as passed. Exits non-zero when a test fails or no test ran.
set -euo pipefail

usage() {
  sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
  echo "test.sh: $*" >&2
  exit 2
}

sanitize=0
cuda=AUTO
build_dir=""
jobs="$(nproc)"

while (($# > 0)); do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --no-cuda) cuda=OFF ;;
    --build-dir)
      (($# >= 2)) || die "--build-dir needs a directory"
      build_dir="$2"
      shift
      ;;
    --build-dir=*) build_dir="${1#--build-dir=}" ;;
    -j)
      (($# >= 2)) || die "-j needs a number"
      jobs="$2"
      shift
      ;;
    -j*) jobs="${1#-j}" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
  shift
done

[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number, got '$jobs'"
# Work from the repository root. The default build directory lies there; a relative --build-dir
# is taken from the caller's directory.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "$build_dir" ]]; then
  if ((sanitize)); then build_dir="$repo_root/build-asan"; else build_dir="$repo_root/build"; fi
elif [[ "$build_dir" != /* ]]; then
  build_dir="$PWD/$build_dir"
fi
cd "$repo_root"

bash scripts/setup.sh

configure=(cmake -S . -B "$build_dir" "-DGHM_CUDA=$cuda")
# Keep the generator of an existing build directory (cmake refuses to switch); new ones use Ninja.
[[ -f "$build_dir/CMakeCache.txt" ]] || configure+=(-G Ninja)
if ((sanitize)); then
  configure+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DGHM_SANITIZE=address,undefined")
  # protect_shadow_gap=0: the CUDA runtime maps memory where ASan would otherwise reserve its gap.
  # The caller's own options come last so that they win.
  export ASAN_OPTIONS="halt_on_error=1:print_stacktrace=1:detect_leaks=1:protect_shadow_gap=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
else
  configure+=(-DCMAKE_BUILD_TYPE=Release "-DGHM_SANITIZE=")
fi
[[ "${CI:-}" == true ]] && configure+=(-DGHM_WERROR=ON)

"${configure[@]}"
cmake --build "$build_dir" -j "$jobs"

log="$build_dir/ctest.log"
set +e
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" 2>&1 | tee "$log"
ctest_status=${PIPESTATUS[0]}
set -e

# Count ctest's per-test result lines, e.g.
#   3/9 Test #6: io_tests .........................   Passed    0.12 sec
#   4/9 Test #7: cuda_tests .......................***Skipped   0.00 sec
# "Passed" passes, "***Skipped" skips; "***Failed", "***Exception", "***Timeout", "***Not Run" and
# anything else fail. A test's number counts once, so output that imitates a result line of a test
# already reported is ignored.
read -r passed failed skipped < <(awk '
  /^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: / {
    id = $0
    sub(/^ *[0-9]+\/[0-9]+ +Test +#/, "", id)
    sub(/:.*/, "", id)
    if (id in seen) next
    seen[id] = 1
    if (!match($0, / \.+ *(Passed|\*\*\*[A-Za-z]+)/)) { failed++; next }
    status = substr($0, RSTART, RLENGTH)
    sub(/^ \.+ */, "", status)
    if (status == "Passed") passed++
    else if (status == "***Skipped") skipped++
    else failed++
  }
  END { printf "%d %d %d\n", passed, failed, skipped }
' "$log")

if ((passed + failed + skipped == 0)); then
  echo "test.sh: no test ran (see $log)" >&2
elif ((ctest_status != 0 && failed == 0)); then
  echo "test.sh: ctest exited with status $ctest_status (see $log)" >&2
fi
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0 && passed + skipped > 0 && ctest_status == 0))
