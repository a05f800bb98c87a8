#include "core/precision.h"

#include "core/check.h"

namespace ghm {
namespace {

thread_local Precision current = Precision::F32;

}  // namespace

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::F32: return "fp32";
    case Precision::BF16: return "bf16";
    case Precision::F16: return "fp16";
  }
  return "?";
}

Precision parse_precision(std::string_view text, std::string_view what) {
  for (const Precision p : {Precision::F32, Precision::BF16, Precision::F16})
    if (text == precision_name(p)) return p;
  GHM_FAIL(what, ": '", text, "' is not a precision; allowed values: fp32, bf16, fp16");
}

Precision autocast_precision() { return current; }

AutocastScope::AutocastScope(Precision p) : previous_(current) { current = p; }

AutocastScope::~AutocastScope() { current = previous_; }

std::string cpu_bf16_missing() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16")) return {};
  if (!__builtin_cpu_supports("avx512f")) return "AVX-512 (avx512f) and AVX-512 BF16 (avx512_bf16)";
  return "AVX-512 BF16 (avx512_bf16)";
#else
  return "AVX-512 BF16 (avx512_bf16; this build is not for x86-64)";
#endif
}

void require_cpu_bf16(std::string_view what) {
  const std::string missing = cpu_bf16_missing();
  GHM_CHECK(missing.empty(), what, ": bf16 on the CPU needs ", missing,
            ", which this CPU lacks (see /proc/cpuinfo); use fp32 here, or bf16 on a CUDA device");
}

void check_precision(Precision p, Device device, std::string_view what) {
  if (p == Precision::F32) return;
  if (device.is_cuda()) return;  // cuDNN: bf16 needs compute capability 8.0 or newer, which cuDNN checks
  GHM_CHECK(p == Precision::BF16, what, ": fp16 runs on CUDA only; on the CPU use bf16 or fp32");
  require_cpu_bf16(what);
}

}  // namespace ghm
