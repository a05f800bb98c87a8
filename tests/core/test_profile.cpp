// The op profiler (core/profile.h): which names it records, how often, and what it ignores.
#include <doctest/doctest.h>

#include <map>
#include <stdexcept>
#include <thread>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/profile.h"

using namespace ghm;

namespace {

std::map<std::string, profile::Entry> by_name(const std::vector<profile::Entry>& entries) {
  std::map<std::string, profile::Entry> m;
  for (const profile::Entry& e : entries) m[e.name] = e;
  return m;
}

}  // namespace

TEST_CASE("profile: forward ops, their backward closures and named regions, each counted once per call") {
  Tensor w = Tensor::from_vector<float>({1, 2, 3}, Shape{3});
  w.set_requires_grad(true);
  const Tensor x = Tensor::from_vector<float>({4, 5, 6}, Shape{3});

  profile::start();
  CHECK(profile::running());
  Tensor y = mul(w, x);        // forward "mul"
  Tensor z = add(y, y);        // forward "add"; y gets two gradients, summed by the engine
  Tensor loss = sum(z);        // forward "sum"
  {
    profile::Region region("my region");
    profile::mark("ignored inside a region");
  }
  loss.backward();
  std::thread other([] { profile::mark("from another thread"); });
  other.join();
  const auto entries = profile::stop();
  CHECK_FALSE(profile::running());

  const auto m = by_name(entries);
  for (const char* name : {"mul", "add", "sum", "mul backward", "add backward", "sum backward", "my region",
                           "backward: gradient sums", "accumulate_grad backward"}) {
    INFO(name);
    REQUIRE(m.count(name) == 1);
    CHECK(m.at(name).calls == 1);
    CHECK(m.at(name).seconds >= 0);
  }
  CHECK(m.count("ignored inside a region") == 0);
  CHECK(m.count("from another thread") == 0);
  // The backward's own ops (the gradient sum's add, mul's products) are not counted as forward ops.
  CHECK(m.at("mul").calls == 1);
  // Largest time first.
  for (std::size_t i = 1; i < entries.size(); ++i) CHECK(entries[i - 1].seconds >= entries[i].seconds);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{8, 10, 12});
}

TEST_CASE("profile: nothing is recorded when no profile runs, and start() clears the previous one") {
  profile::start();
  (void)add(Tensor::scalar(1), Tensor::scalar(2));
  CHECK(by_name(profile::stop()).count("add") == 1);
  (void)mul(Tensor::scalar(1), Tensor::scalar(2));  // not running: not recorded anywhere
  profile::start();
  const auto m = by_name(profile::stop());
  CHECK(m.count("add") == 0);
  CHECK(m.count("mul") == 0);
}

TEST_CASE("profile: a Region alive across stop() and start() ends silently, and an exception leaves it balanced") {
  profile::start();
  {
    profile::Region outer("outer");
    (void)profile::stop();
    profile::start();  // the Region belongs to the stopped profile
  }
  {
    profile::Region fresh("fresh");
  }
  try {
    profile::Region throwing("throwing");
    throw std::runtime_error("inside a region");
  } catch (const std::runtime_error&) {
  }
  (void)add(Tensor::scalar(1), Tensor::scalar(2));  // counted again: no Region is still open
  const auto m = by_name(profile::stop());
  CHECK(m.count("outer") == 0);
  CHECK(m.count("fresh") == 1);
  CHECK(m.count("throwing") == 1);
  CHECK(m.count("add") == 1);
}
