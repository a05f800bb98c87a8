// Data-parallel exchanges (dist/gradients.h) against their definitions; like test_communicator.cpp
// these cases run alone and under mpirun -np 2 and 3 (hence the "communicator:" names).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/bfloat16.h"

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "dist/gradients.h"

namespace {

using ghm::Shape;
using ghm::Tensor;
using ghm::dist::world;

// A leaf of `n` elements whose gradient is (rank + 1) * (i + 1) * k.
Tensor parameter_with_grad(std::int64_t n, float k) {
  Tensor p = Tensor::zeros(Shape{n});
  p.set_requires_grad(true);
  std::vector<float> w(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) w[static_cast<std::size_t>(i)] = static_cast<float>((world().rank() + 1) * (i + 1)) * k;
  ghm::sum(ghm::mul(p, Tensor::from_vector(w, Shape{n}))).backward();
  return p;
}

}  // namespace

TEST_CASE("communicator: average_gradients leaves every gradient at its mean over ranks, in buckets") {
  auto& comm = world();
  const double mean_factor = (comm.size() + 1) / 2.0;  // mean of 1..size
  // Sizes around a bucket of 16 floats: several per bucket, one exactly a bucket, one larger.
  std::vector<Tensor> params;
  for (const std::int64_t n : {3, 5, 16, 7, 40, 1, 9}) params.push_back(parameter_with_grad(n, 0.5f));
  Tensor frozen = Tensor::ones(Shape{4});  // no gradient: skipped
  params.push_back(frozen);
  const ghm::dist::ExchangeStats stats = ghm::dist::average_gradients(comm, params, 16 * sizeof(float));
  for (std::size_t k = 0; k + 1 < params.size(); ++k) {
    const std::vector<float> g = params[k].grad().to_vector<float>();
    for (std::size_t i = 0; i < g.size(); ++i)
      CHECK(g[i] == doctest::Approx(mean_factor * static_cast<double>(i + 1) * 0.5).epsilon(1e-6));
  }
  CHECK_FALSE(frozen.grad().defined());
  if (comm.size() == 1) {
    CHECK(stats.calls == 0);
  } else {
    CHECK(stats.bytes == (3 + 5 + 16 + 7 + 40 + 1 + 9) * sizeof(float));
    CHECK(stats.calls == 5);  // from the last parameter: [9 1], [40] alone, [7], [16], [5 3]
  }
}

TEST_CASE("communicator: broadcast_state gives every rank rank 0's tensors, integer ones too") {
  auto& comm = world();
  Tensor weights = Tensor::full(Shape{2, 3}, 10.0 + comm.rank());
  Tensor steps = Tensor::full(Shape{1}, 100 + comm.rank(), ghm::DType::I64);
  ghm::dist::broadcast_state(comm, {weights, steps});
  for (const float x : weights.to_vector<float>()) CHECK(x == 10.0f);
  CHECK(steps.to_vector<std::int64_t>()[0] == 100);
}

TEST_CASE("communicator: GradientReducer starts the buckets during the backward, in order, to the same means") {
  auto& comm = world();
  // A chain of parameters: w0 is used first in the forward, so its gradient is completed last.
  std::vector<Tensor> params;
  for (int i = 0; i < 6; ++i) {
    Tensor p = Tensor::full(Shape{8}, 1.0 + 0.1 * i);
    p.set_requires_grad(true);
    params.push_back(p);
  }
  ghm::dist::GradientReducer reducer(comm, params, {.bucket_bytes = 16 * sizeof(float)});  // two parameters per bucket
  CHECK(reducer.buckets() == 3);
  for (int step = 0; step < 2; ++step) {  // the reducer serves every step
    for (Tensor& p : params) p.zero_grad();
    Tensor x = Tensor::full(Shape{8}, static_cast<double>(comm.rank() + 1));
    for (const Tensor& p : params) x = ghm::mul(x, p);
    {
      const ghm::GradReadyScope overlap = reducer.overlap();
      ghm::sum(x).backward();
    }
    // Each process's gradients are (rank + 1) times the same values: their mean is (size + 1) / 2 times.
    std::vector<std::vector<float>> alone;
    for (const Tensor& p : params) alone.push_back(p.grad().to_vector<float>());
    const ghm::dist::ExchangeStats stats = reducer.finish();
    for (std::size_t k = 0; k < params.size(); ++k) {
      const std::vector<float> mean = params[k].grad().to_vector<float>();
      for (std::size_t i = 0; i < mean.size(); ++i)
        CHECK(mean[i] == doctest::Approx(alone[k][i] / (comm.rank() + 1) * (comm.size() + 1) / 2.0).epsilon(1e-6));
    }
    if (comm.size() > 1) {
      CHECK(stats.calls == 3);
      CHECK(stats.started_early == 3);  // every bucket was full before the backward ended
    }
  }
}

TEST_CASE("communicator: gradients sent as bfloat16 arrive as the same means on every rank, within the bound") {
  auto& comm = world();
  const int n_ranks = comm.size();
  // Gradients that bfloat16 does not hold exactly, of both signs; one parameter gets none.
  std::vector<Tensor> params;
  for (const std::int64_t n : {300, 17, 64}) {
    Tensor p = Tensor::zeros(Shape{n});
    p.set_requires_grad(true);
    std::vector<float> w(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      w[static_cast<std::size_t>(i)] = 0.1013f * static_cast<float>((comm.rank() + 1) * (i % 13) - 5) / (1.0f + i);
    ghm::sum(ghm::mul(p, Tensor::from_vector(w, Shape{n}))).backward();
    params.push_back(p);
  }
  Tensor unused = Tensor::zeros(Shape{5});
  unused.set_requires_grad(true);
  params.push_back(unused);
  // The float32 means, from every rank's gradients (each rank knows them: rank r's are (r + 1)-scaled).
  std::vector<std::vector<float>> exact, largest;
  for (std::size_t k = 0; k + 1 < params.size(); ++k) {
    const std::int64_t n = params[k].numel();
    std::vector<float> mean(static_cast<std::size_t>(n)), big(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      double s = 0, m = 0;
      for (int r = 0; r < n_ranks; ++r) {
        const double g = 0.1013f * static_cast<float>((r + 1) * (i % 13) - 5) / (1.0f + i);
        s += g;
        m = std::max(m, std::abs(g));
      }
      mean[static_cast<std::size_t>(i)] = static_cast<float>(s / n_ranks);
      big[static_cast<std::size_t>(i)] = static_cast<float>(m);
    }
    exact.push_back(mean);
    largest.push_back(big);
  }
  // alone_too: a group of one rounds through bfloat16 too, so the bound is tested in every run.
  ghm::dist::GradientReducer reducer(comm, params,
                                     {.bucket_bytes = 64 * sizeof(float), .wire = ghm::Precision::BF16, .alone_too = true});
  const ghm::dist::ExchangeStats stats = reducer.finish();
  CHECK(stats.bytes == (300 + 17 + 64 + 5) * 2);
  CHECK(stats.calls == 4);  // [5], [64] (5 + 64 > 64), [17], [300]
  const double bound = (n_ranks + 3) / 2.0 * std::ldexp(1.0, -8);
  double worst = 0;
  std::string mine;
  for (std::size_t k = 0; k < params.size(); ++k) {
    const std::vector<float> g = params[k].grad().to_vector<float>();
    mine.append(reinterpret_cast<const char*>(g.data()), g.size() * sizeof(float));
    for (std::size_t i = 0; k + 1 < params.size() && i < g.size(); ++i) {
      if (largest[k][i] == 0.0f) CHECK(g[i] == 0.0f);  // zeros on every rank: exact
      else worst = std::max(worst, std::abs(g[i] - exact[k][i]) / largest[k][i] / bound);
    }
    if (k + 1 == params.size())
      for (const float x : g) CHECK(x == 0.0f);
  }
  INFO("largest error, in units of the bound: ", worst);
  CHECK(worst <= 1.0);
  CHECK(worst > 0.0);  // the values did travel rounded
  // Every rank holds the same bits, so the ranks' weights stay equal.
  const std::vector<std::string> all = comm.all_gather(mine);
  for (const std::string& other : all) CHECK(other == mine);
}
