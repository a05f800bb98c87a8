// The communicator's operations against their definitions (dist/communicator.h). ctest runs this
// file's cases alone (a group of one) and under `mpirun -np 2` and `-np 3`, where every rank runs
// every case: the expected values are written in terms of rank() and size(), so one text checks all.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/bfloat16.h"
#include "core/check.h"
#include "dist/communicator.h"
#include "dist/launch.h"

namespace {

using ghm::dist::world;

// 1 + 2 + ... + size
double rank_sum() {
  const double n = world().size();
  return n * (n + 1) / 2;
}

}  // namespace

TEST_CASE("communicator: the group matches how the process was started") {
  const auto launch = ghm::dist::detect_launch();
  auto& comm = world();
  CHECK(comm.size() == (launch ? launch->world_size : 1));
  CHECK(comm.rank() == (launch ? launch->rank : 0));
  CHECK(comm.local_rank() >= 0);
  CHECK(comm.local_rank() < comm.local_size());
  CHECK(comm.local_size() <= comm.size());
  CHECK(std::string(comm.backend()) == (launch ? (ghm::dist::nccl_available() ? "mpi+nccl" : "mpi") : "single"));
  CHECK(ghm::dist::rank_prefix() == (comm.size() > 1 ? ghm::str_cat("rank ", comm.rank(), "/", comm.size(), ": ")
                                                       : std::string()));
}

TEST_CASE("communicator: all_reduce_sum of f32 adds every rank's values in place") {
  auto& comm = world();
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{3} << 20}) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>((comm.rank() + 1) * static_cast<int>(i % 1000));
    comm.all_reduce_sum(v);
    bool exact = true;
    for (std::size_t i = 0; i < n; ++i) exact = exact && v[i] == static_cast<float>(rank_sum() * (i % 1000));
    CHECK_MESSAGE(exact, "n = ", n);
  }
  std::vector<double> d{0.25 * (comm.rank() + 1), 1e15 + comm.rank()};
  comm.all_reduce_sum(std::span<double>(d));
  CHECK(d[0] == 0.25 * rank_sum());
  CHECK(d[1] == 1e15 * comm.size() + (rank_sum() - comm.size()));  // exact in double, not in float
  ghm::Tensor t = ghm::Tensor::full({2, 3}, comm.rank() + 1.0);
  comm.all_reduce_sum(t);
  for (const float x : t.to_vector<float>()) CHECK(x == static_cast<float>(rank_sum()));
  ghm::Tensor ints = ghm::Tensor::zeros({2}, ghm::DType::I64);
  CHECK_THROWS_WITH_AS(comm.all_reduce_sum(ints), doctest::Contains("wants an f32 tensor, got i64"), ghm::Error);
}

TEST_CASE("communicator: all_reduce_sum of bfloat16 adds in float and rounds to bfloat16") {
  auto& comm = world();
  // Halves and small integers: every partial sum is exact in bfloat16.
  std::vector<std::uint16_t> v(5000);
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = ghm::float_to_bf16(static_cast<float>(comm.rank() + 1) * 0.5f * static_cast<float>(i % 7));
  comm.all_reduce_sum_bf16(v);
  bool exact = true;
  for (std::size_t i = 0; i < v.size(); ++i)
    exact = exact && ghm::bf16_to_float(v[i]) == static_cast<float>(rank_sum() * 0.5 * static_cast<double>(i % 7));
  CHECK(exact);
  // 256 on rank 0 and 1 on the others: bfloat16 holds 256 and 258 but not 257, so 256 + 1 rounds
  // back to 256 (a tie, to the even mantissa) while 1 + 1 + 256 is 258: the rounding is per partial
  // sum, and with three ranks the order of the additions decides.
  std::vector<std::uint16_t> rounding{ghm::float_to_bf16(comm.rank() == 0 ? 256.0f : 1.0f)};
  comm.all_reduce_sum_bf16(rounding);
  const float r = ghm::bf16_to_float(rounding[0]);
  if (comm.size() <= 2) {
    CHECK(r == 256.0f);
  } else if (comm.size() == 3) {
    CHECK((r == 256.0f || r == 258.0f));
  }
}

TEST_CASE("communicator: a started bfloat16 sum is the same on every rank, and the blocking one's for two") {
  auto& comm = world();
  std::vector<std::uint16_t> started(3000), blocking(3000);
  auto value = [](int rank, std::size_t i) { return 0.37f * static_cast<float>((rank + 1) * (i % 101)) - 9.0f; };
  for (std::size_t i = 0; i < started.size(); ++i) started[i] = blocking[i] = ghm::float_to_bf16(value(comm.rank(), i));
  comm.start_all_reduce_sum_bf16(started);
  comm.progress();
  comm.wait_all();
  comm.all_reduce_sum_bf16(blocking);
  // Two ranks add a + b, the same in any order; with three the two calls may add in different
  // orders (Open MPI picks its algorithm per call), each partial sum rounded: then each is within
  // 2^-8 of every rounding's value (3 inputs, 2 partial sums) of the exact sum.
  if (comm.size() <= 2) CHECK(started == blocking);
  double worst = 0;
  for (std::size_t i = 0; i < started.size(); ++i) {
    double exact = 0, rounding = 0;
    for (int r = 0; r < comm.size(); ++r) {
      exact += ghm::bf16_to_float(ghm::float_to_bf16(value(r, i)));
      rounding += std::abs(exact) + std::abs(value(r, i));
    }
    worst = std::max(worst, std::abs(ghm::bf16_to_float(started[i]) - exact) / (rounding * std::ldexp(1.0, -8)));
  }
  CHECK(worst <= 1.0);
  const std::string mine(reinterpret_cast<const char*>(started.data()), started.size() * 2);
  for (const std::string& other : comm.all_gather(mine)) CHECK(other == mine);
}

TEST_CASE("communicator: broadcast puts the root's bytes everywhere") {
  auto& comm = world();
  const int root = comm.size() - 1;
  std::vector<int> v(777, comm.rank() == root ? 42 : -1);
  comm.broadcast(std::as_writable_bytes(std::span<int>(v)), root);
  for (const int x : v) REQUIRE(x == 42);
  ghm::Tensor t = ghm::Tensor::full({4}, comm.rank() == 0 ? 7.0 : 0.0);
  comm.broadcast(t, 0);
  for (const float x : t.to_vector<float>()) CHECK(x == 7.0f);
  CHECK_THROWS_WITH_AS(comm.broadcast(t, comm.size()), doctest::Contains("is not a rank of"), ghm::Error);
}

TEST_CASE("communicator: all_gather returns every rank's part, of any size, in rank order") {
  auto& comm = world();
  const std::string mine(static_cast<std::size_t>(3 * comm.rank()), static_cast<char>('a' + comm.rank()));
  const std::vector<std::string> parts = comm.all_gather(mine);
  REQUIRE(parts.size() == static_cast<std::size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r)
    CHECK(parts[r] == std::string(static_cast<std::size_t>(3 * r), static_cast<char>('a' + r)));
  comm.barrier();
}

// Run by ctest under mpirun only, with GHM_TEST_FAILING_RANK set: that rank fails while the others
// wait in a barrier; the job must end with the failing rank's message instead of hanging.
TEST_CASE("communicator: a failing rank ends the job" * doctest::skip(std::getenv("GHM_TEST_FAILING_RANK") == nullptr)) {
  auto& comm = world();
  if (comm.rank() == std::atoi(std::getenv("GHM_TEST_FAILING_RANK"))) {
    try {
      GHM_FAIL("an image of this rank's shard is missing");
    } catch (const ghm::Error& e) {
      std::fprintf(stderr, "error: %s%s\n", ghm::dist::rank_prefix().c_str(), e.what());
      ghm::dist::end_job(3);
    }
  }
  comm.barrier();  // the other ranks wait here until the job is ended
  FAIL("the job went on past a failed rank");
}
