// Fails a test run whose --test-case filter selected nothing. ctest runs one doctest case per
// test through such a filter, and a case that the filter cannot match (a name CMake split at a
// ';', a renamed case) would otherwise "pass" with zero cases run.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

namespace ghm::testing {

inline int& cases_run() {
  static int n = -1;  // -1: no run happened (e.g. --list-test-cases)
  return n;
}

struct CountingListener : doctest::IReporter {
  explicit CountingListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    cases_run() = static_cast<int>(stats.numTestCasesPassingFilters);
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

// The exit code: doctest's, or 1 when a --test-case filter matched no test case.
inline int guarded_exit_code(int argc, char** argv, int doctest_result) {
  bool filtered = false;
  for (int i = 1; i < argc; ++i)
    filtered = filtered || std::strncmp(argv[i], "--test-case=", 12) == 0 || std::strncmp(argv[i], "-tc=", 4) == 0;
  if (doctest_result == 0 && filtered && cases_run() == 0) {
    std::fprintf(stderr, "error: the --test-case filter matched no test case (a name with ';' is split by CMake)\n");
    return 1;
  }
  return doctest_result;
}

}  // namespace ghm::testing
