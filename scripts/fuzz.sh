#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ as libFuzzer binaries (clang, AddressSanitizer +
# UndefinedBehaviorSanitizer, CPU only) and fuzzes each for a while, one after another; prints per
# target the inputs executed and whether it found anything, then one closing line.
#
#   bash scripts/fuzz.sh [options]
#
#   --time SECONDS    how long to fuzz each target (default 60)
#   --seed N          libFuzzer's random seed (default 0: a new one each run); CI fixes it, so a
#                     run explores the same inputs in the same order every time
#   --target NAME     fuzz only this target; may be repeated (default: all of fuzz/corpus/)
#   --build-dir DIR   build directory (default: build-fuzz/ in the repo)
#   -j N              parallel build jobs (default: nproc)
#   -h, --help        show this help
#
# Targets: json, yaml, safetensors, coco_instances, coco_results, image (fuzz/targets.h). Each run
# starts from a copy of the committed seeds (fuzz/corpus/<target>/, never written here) merged
# into DIR/corpus/<target>/, which keeps what earlier runs found. Limits per input: -max_len 8192
# bytes (16384 for COCO files and images), -timeout 10 s, -rss_limit_mb 2048, -malloc_limit_mb
# 1024. A crash, sanitizer report, timeout, out-of-memory or broken property is a finding: its
# input is written under DIR/findings/<target>/, the path and a command that replays it are
# printed, and the script exits 1. Keep a fixed finding in fuzz/regressions/<target>/, where
# test_fuzz replays it.
set -euo pipefail

usage() {
  sed -n '2,25s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
  echo "fuzz.sh: $*" >&2
  exit 2
}

seconds=60
seed=0
targets=()
build_dir=""
jobs="$(nproc)"

while (($# > 0)); do
  case "$1" in
    --time)
      (($# >= 2)) || die "--time needs a number of seconds"
      seconds="$2"
      shift
      ;;
    --time=*) seconds="${1#--time=}" ;;
    --seed)
      (($# >= 2)) || die "--seed needs a number"
      seed="$2"
      shift
      ;;
    --target)
      (($# >= 2)) || die "--target needs a target name"
      targets+=("$2")
      shift
      ;;
    --target=*) targets+=("${1#--target=}") ;;
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

[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "--time wants a positive number of seconds, got '$seconds'"
[[ "$seed" =~ ^[0-9]+$ ]] || die "--seed wants a non-negative number, got '$seed'"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number, got '$jobs'"
# Work from the repository root. The default build directory lies there; a relative --build-dir
# is taken from the caller's directory.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "$build_dir" ]]; then
  build_dir="$repo_root/build-fuzz"
elif [[ "$build_dir" != /* ]]; then
  build_dir="$PWD/$build_dir"
fi
cd "$repo_root"

all_targets=()
for dir in fuzz/corpus/*/; do all_targets+=("$(basename "$dir")"); done
((${#all_targets[@]} > 0)) || die "no seed corpus found under fuzz/corpus/"
if ((${#targets[@]} == 0)); then
  targets=("${all_targets[@]}")
else
  for t in "${targets[@]}"; do
    [[ -d "fuzz/corpus/$t" ]] || die "unknown target '$t' (targets: ${all_targets[*]})"
  done
fi

# The largest input each target is given: room for a small file of its format, well past the seeds.
max_len_of() {
  case "$1" in
    coco_instances | coco_results) echo 16384 ;;
    image) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

# Tokens of the target's format (fuzz/dict/), which help libFuzzer build keys, markers and headers.
dict_of() {
  case "$1" in
    coco_instances | coco_results) echo fuzz/dict/coco.dict ;;
    *) echo "fuzz/dict/$1.dict" ;;
  esac
}

bash scripts/setup.sh --fuzz

configure=(cmake -S . -B "$build_dir" -DGHM_FUZZ=ON -DGHM_CUDA=OFF -DGHM_BUILD_TESTS=OFF
           -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DGHM_SANITIZE=address,undefined"
           -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
# Keep the generator of an existing build directory (cmake refuses to switch); new ones use Ninja.
[[ -f "$build_dir/CMakeCache.txt" ]] || configure+=(-G Ninja)
if command -v ccache > /dev/null; then
  configure+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo_root}"
fi
"${configure[@]}"
build_targets=()
for t in "${targets[@]}"; do build_targets+=("ghm_fuzz_$t"); done
cmake --build "$build_dir" -j "$jobs" --target "${build_targets[@]}"

# One thread per input: the evaluator's OpenMP loops would otherwise start a team per input.
export OMP_NUM_THREADS=1
# Images up to 4 megapixels (the default limit is 179): the limit's check is the same, and an input
# declaring a huge image then costs milliseconds and megabytes instead of seconds and gigabytes.
export GHM_MAX_IMAGE_PIXELS=$((1 << 22))
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

found=0
total_executions=0
for t in "${targets[@]}"; do
  corpus="$build_dir/corpus/$t"
  findings="$build_dir/findings/$t"
  log="$build_dir/logs/$t.log"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  cp fuzz/corpus/"$t"/* "$corpus"/
  binary="$build_dir/bin/ghm_fuzz_$t"
  options=()
  [[ -f "$(dict_of "$t")" ]] && options+=("-dict=$(dict_of "$t")")
  started=$SECONDS
  set +e
  "$binary" "$corpus" "${options[@]}" -max_len="$(max_len_of "$t")" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -max_total_time="$seconds" -print_final_stats=1 -seed="$seed" -artifact_prefix="$findings/" > "$log" 2>&1
  status=$?
  set -e
  elapsed=$((SECONDS - started))
  executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  executions="${executions:-0}"
  total_executions=$((total_executions + executions))
  artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
  if ((status == 0)) && [[ -z "$artifact" ]]; then
    printf '%-16s %4ss %10s inputs  nothing found\n' "$t" "$elapsed" "$executions"
    continue
  fi
  found=$((found + 1))
  printf '%-16s %4ss %10s inputs  FOUND (libFuzzer exit %d)\n' "$t" "$elapsed" "$executions" "$status"
  grep -m 1 -E '^==[0-9]+==ERROR|runtime error:|fuzz property violated|ERROR: libFuzzer' "$log" | sed 's/^/  /' || true
  echo "  log:    $log"
  if [[ -n "$artifact" ]]; then
    echo "  input:  $artifact"
    echo "  replay: $binary $artifact"
  fi
done

echo "fuzz.sh: ${#targets[@]} target(s), ${seconds}s each, $total_executions inputs, $found with findings"
((found == 0))
