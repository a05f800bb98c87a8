// Per-element formulas shared by the CPU and CUDA elementwise kernels, so both backends compute
// the same expression. Each backward takes the upstream gradient g and what the forward saved.
#pragma once

#include <cmath>

// Always inlined, also on the host: some callers are compiled without floating-point contraction
// (-ffp-contract=off, to round as the device does) and others with it, and an out-of-line copy
// shared between them would round as whichever object the linker happened to keep.
#if defined(__CUDACC__)
#define GHM_HD __host__ __device__ __forceinline__
#else
#define GHM_HD inline __attribute__((always_inline))
#endif

namespace ghm::math {

GHM_HD float relu(float x) { return x > 0.f ? x : 0.f; }
GHM_HD float relu_backward(float g, float y) { return y > 0.f ? g : 0.f; }

// Stable for large |x|: exp never overflows.
GHM_HD float sigmoid(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}
GHM_HD float sigmoid_backward(float g, float y) { return g * y * (1.f - y); }

GHM_HD float exp_backward(float g, float y) { return g * y; }
GHM_HD float log_backward(float g, float x) { return g / x; }

}  // namespace ghm::math
