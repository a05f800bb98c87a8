// Mixed precision: the precision in which convolutions (and matrix products) run, set for a scope
// on the current thread, as PyTorch's autocast.
//
//   fp32  every op in float32 (the default)
//   bf16  convolutions read their input and weight rounded to bfloat16 (8-bit mantissa, float32's
//         range) and accumulate in float32; CPU (oneDNN, AVX-512 BF16) and CUDA (cuDNN)
//   fp16  likewise in IEEE half (11-bit mantissa, largest value 65504): CUDA only
//
// Everything else stays float32 whatever the scope says: batch and group norm statistics, the
// sigmoid, the losses (GHM-C's g = |sigmoid(x) - y| and its bin come from float32 logits exactly as
// in fp32 training), box decoding, NMS and every reduction. Weights, gradients and optimizer state
// are float32 (the master copy); the low-precision copy of a weight is made by the convolution that
// reads it, so it is never stale after an optimizer step. docs/precision.md has the whole policy.
//
// An op records the precision it ran in with its backward: the backward passes of a convolution run
// in the precision its forward ran in, whatever scope is alive when backward runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/dtype.h"

namespace ghm {

enum class Precision : std::uint8_t { F32, BF16, F16 };

const char* precision_name(Precision p);  // "fp32", "bf16", "fp16" (the config's spelling)
// Parses "fp32" | "bf16" | "fp16"; otherwise throws naming `what` (a config key or an option).
Precision parse_precision(std::string_view text, std::string_view what);

// The precision convolutions run in on this thread (fp32 unless an AutocastScope is alive).
Precision autocast_precision();

// Sets autocast_precision() for a scope on this thread and restores the previous value on exit.
class AutocastScope {
 public:
  explicit AutocastScope(Precision p);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  Precision previous_;
};

// bf16 arithmetic on this CPU: empty when it has AVX-512 BF16 (vdpbf16ps; every CPU with AMX-BF16
// has it too), else the missing instruction set named for an error message. oneDNN would otherwise
// emulate bf16 products with plain AVX-512 at about float32's speed or worse.
std::string cpu_bf16_missing();
// Throws, naming the missing instruction set and `what`, when cpu_bf16_missing() is not empty.
void require_cpu_bf16(std::string_view what);

// Throws, naming `what` (a config key or an option), unless convolutions can run in `p` on
// `device`: fp32 anywhere; bf16 on a CPU with bf16 arithmetic (or on any CPU with the reference
// kernels, GHM_CONV_IMPL=reference, which emulate it); fp16 nowhere on the CPU; fp16 on any GPU and
// bf16 on compute capability 8.0 or newer.
void check_precision(Precision p, Device device, std::string_view what);

}  // namespace ghm
