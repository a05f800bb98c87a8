// For suites that run bf16 on the CPU: true, after saying so, when this CPU has no bf16 arithmetic
// (core/precision.h), so the case returns early and shows as skipped in the log.
// skip_without_bf16_convolutions is for cases that need bf16 convolutions, not oneDNN's in
// particular: the reference kernels (GHM_CONV_IMPL=reference) emulate them on any CPU, and
// tests/CMakeLists.txt runs those cases again under them, so CPUs without bf16 test them too.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "core/ops/conv.h"
#include "core/precision.h"

namespace ghm::testing {

inline bool skip_without_cpu_bf16() {
  const std::string missing = cpu_bf16_missing();
  if (missing.empty()) return false;
  MESSAGE("skipped: this CPU lacks ", missing);
  return true;
}

inline bool skip_without_bf16_convolutions() {
  return conv2d_cpu_impl() != ConvCpuImpl::Reference && skip_without_cpu_bf16();
}

}  // namespace ghm::testing
