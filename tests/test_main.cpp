// The doctest main for the CPU test binaries.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "zero_match_guard.h"

REGISTER_LISTENER("count_cases", 1, ghm::testing::CountingListener);

int main(int argc, char** argv) {
  doctest::Context ctx(argc, argv);
  return ghm::testing::guarded_exit_code(argc, argv, ctx.run());
}
