// The doctest main for GPU test binaries. Without a usable CUDA GPU it prints why and exits with
// 77, which ctest (SKIP_RETURN_CODE 77) reports as Skipped: visible, never counted as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "core/runtime_info.h"
#include "zero_match_guard.h"

REGISTER_LISTENER("count_cases", 1, ghm::testing::CountingListener);

namespace {
constexpr int kSkipReturnCode = 77;
}

int main(int argc, char** argv) {
  if (!ghm::cuda_gpu_available()) {
    std::printf("SKIPPED: no CUDA GPU found (%s)\n", ghm::query_cuda_runtime().error.c_str());
    return kSkipReturnCode;
  }
  doctest::Context ctx(argc, argv);
  return ghm::testing::guarded_exit_code(argc, argv, ctx.run());
}
