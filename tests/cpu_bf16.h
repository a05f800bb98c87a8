// For suites that run bf16 on the CPU: true, after saying so, when this CPU has no bf16 arithmetic
// (core/precision.h), so the case returns early and shows as skipped in the log.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "core/precision.h"

namespace ghm::testing {

inline bool skip_without_cpu_bf16() {
  const std::string missing = cpu_bf16_missing();
  if (missing.empty()) return false;
  MESSAGE("skipped: this CPU lacks ", missing);
  return true;
}

}  // namespace ghm::testing
