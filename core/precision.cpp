#include "core/precision.h"

#include "core/check.h"
#include "core/ops/conv.h"
#include "core/runtime_info.h"

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
            ", which this CPU lacks (see /proc/cpuinfo); use fp32 here, bf16 on a CUDA device, or the slow "
            "reference kernels (GHM_CONV_IMPL=reference), which emulate bf16 on any CPU");
}

void check_precision(Precision p, Device device, std::string_view what) {
  if (p == Precision::F32) return;
  if (device.is_cuda()) {
    if (p != Precision::BF16) return;
    const CudaRuntimeInfo info = query_cuda_runtime();
    const auto i = static_cast<std::size_t>(device.index);
    GHM_CHECK(i >= info.gpus.size() || info.gpus[i].cc_major >= 8, what, ": bf16 on ", device,
              " needs compute capability 8.0 or newer (A100, H100); ", info.gpus[i].name, " has ",
              info.gpus[i].cc_major, ".", info.gpus[i].cc_minor, ": use fp16 or fp32 there");
    return;
  }
  GHM_CHECK(p == Precision::BF16, what, ": fp16 runs on CUDA only; on the CPU use bf16 or fp32");
  if (conv2d_cpu_impl() == ConvCpuImpl::Reference) return;  // emulated by rounding the operands: any CPU
  require_cpu_bf16(what);
}

}  // namespace ghm
