// The fair thread count (core/cpu/fair_share.h): one thread fewer per busy task, never below one
// or above the quiet-machine count; the median of the last samples decides, so one odd sample
// changes nothing; and a busy process beside this one is seen in /proc.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/cpu/fair_share.h"

using ghm::cpu::FairShare;
using ghm::cpu::fair_thread_count;

TEST_CASE("fair share: cores less the busy tasks, within 1 .. the quiet count") {
  CHECK(fair_thread_count(2, 2, 0) == 2);
  CHECK(fair_thread_count(2, 2, 1) == 1);
  CHECK(fair_thread_count(2, 2, 5) == 1);
  CHECK(fair_thread_count(16, 16, 3) == 13);
  CHECK(fair_thread_count(4, 16, 3) == 4);  // a smaller quiet count is never exceeded
  CHECK(fair_thread_count(0, 8, 0) == 1);
}

TEST_CASE("fair share: the median of the last five samples decides, and unknown samples are skipped") {
  FairShare share(8, 8);
  CHECK(share.threads() == 8);
  for (int i = 0; i < 4; ++i) CHECK(share.update(3) == 8);  // the window is not full yet
  CHECK(share.update(3) == 5);
  CHECK(share.update(0) == 5);   // one quiet sample: the median is still 3
  CHECK(share.update(-1) == 5);  // /proc unreadable: no sample
  CHECK(share.update(0) == 5);
  CHECK(share.update(0) == 8);   // three of five quiet
  CHECK(share.update(7) == 8);
  CHECK(share.update(7) == 8);
  CHECK(share.update(7) == 1);
}

TEST_CASE("fair share: a busy process beside this one counts as another runnable task") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
    ::alarm(30);
    volatile unsigned long spin = 0;
    for (;;) {  // busy until killed
      spin = spin + 1;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int seen = 0;
  for (int i = 0; i < 5; ++i) seen = std::max(seen, ghm::cpu::other_runnable_tasks());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  CHECK(seen >= 1);
}
