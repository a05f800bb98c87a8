// libFuzzer's entry point for one fuzz target. fuzz/CMakeLists.txt compiles this file once per
// target, with GHM_FUZZ_ENTRY naming the target's function (targets.h), e.g. fuzz_json.
#include <cstddef>
#include <cstdint>

#include "fuzz/targets.h"

#ifndef GHM_FUZZ_ENTRY
#error "GHM_FUZZ_ENTRY must name a fuzz target function of fuzz/targets.h"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return ghm::fuzz::GHM_FUZZ_ENTRY(data, size);
}
