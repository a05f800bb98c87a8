// Synchronised batch norm (dist/sync_batch_norm.h, core/ops/norm.h) against batch norm over the
// whole batch: every process builds the same batch, normalises its own share of the images with
// the job's statistics, and must get that share of the one-process output, input gradient and
// running statistics; its weight and bias gradients summed over the processes must be the
// one-process ones. Runs alone and under mpirun -np 2 and 3 (hence the "communicator:" name).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/norm.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "core/random.h"
#include "dist/sync_batch_norm.h"

namespace {

using ghm::Shape;
using ghm::Tensor;

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
  return d;
}

struct BnRun {
  Tensor y, dx, dw, db, running_mean, running_var;
};

// Batch norm of x with an upstream gradient that varies by element, so every term of the
// backward matters.
BnRun run(const Tensor& x_in, const Tensor& upstream, const ghm::BatchNormSync* sync) {
  const std::int64_t c = x_in.size(1);
  Tensor x = x_in.detach().clone();
  x.set_requires_grad(true);
  Tensor w = Tensor::full(Shape{c}, 1.5), b = Tensor::full(Shape{c}, -0.25);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  BnRun r{Tensor(), Tensor(), Tensor(), Tensor(), Tensor::zeros(Shape{c}), Tensor::ones(Shape{c})};
  r.y = ghm::batch_norm(x, w, b, r.running_mean, r.running_var, ghm::BatchNormMode::Train, 0.1f, 1e-5f, sync);
  ghm::sum(ghm::mul(r.y, upstream)).backward();
  r.dx = x.grad();
  r.dw = w.grad();
  r.db = b.grad();
  return r;
}

}  // namespace

TEST_CASE("communicator: synchronised batch norm over the shares equals batch norm over the whole batch") {
  auto& comm = ghm::dist::world();
  const int size = comm.size(), rank = comm.rank();
  const std::int64_t images = 2 * size + 1, c = 5;  // shares of 2 images, rank 0's of 3
  ghm::Generator gen(11);
  const Tensor x = ghm::add_scalar(Tensor::normal({images, c, 3, 4}, 0.0f, 2.0f, gen), 3.0f);  // mean far from 0
  const Tensor upstream = Tensor::normal({images, c, 3, 4}, 0.0f, 1.0f, gen);
  const BnRun whole = run(x, upstream, nullptr);

  const std::int64_t begin = rank == 0 ? 0 : 1 + 2 * rank, count = rank == 0 ? 3 : 2;
  const ghm::BatchNormSync sync = ghm::dist::batch_norm_sync(comm);
  const BnRun mine = run(ghm::narrow(x, 0, begin, count), ghm::narrow(upstream, 0, begin, count), &sync);

  CHECK(max_abs_diff(mine.y.to_vector<float>(), ghm::narrow(whole.y, 0, begin, count).to_vector<float>()) < 1e-5);
  CHECK(max_abs_diff(mine.dx.to_vector<float>(), ghm::narrow(whole.dx, 0, begin, count).to_vector<float>()) < 1e-5);
  CHECK(max_abs_diff(mine.running_mean.to_vector<float>(), whole.running_mean.to_vector<float>()) < 1e-6);
  CHECK(max_abs_diff(mine.running_var.to_vector<float>(), whole.running_var.to_vector<float>()) < 1e-5);
  // Weight and bias: each process's own gradient; their sum is the whole batch's.
  Tensor dw = mine.dw.clone(), db = mine.db.clone();
  comm.all_reduce_sum(dw);
  comm.all_reduce_sum(db);
  CHECK(max_abs_diff(dw.to_vector<float>(), whole.dw.to_vector<float>()) < 1e-4);
  CHECK(max_abs_diff(db.to_vector<float>(), whole.db.to_vector<float>()) < 1e-4);
}
