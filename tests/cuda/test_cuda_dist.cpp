// The NCCL path of the communicator (dist/): ctest runs this under `mpirun -np 1`, so world() is
// the MPI backend and CUDA tensors go through NCCL, and compares with the host path. With one rank
// a sum is the value itself; the test is that the NCCL communicator forms on the device, that a
// group of buffers and a broadcast run and leave the values where they belong, and that averaging
// gradients on the GPU agrees with the CPU.
#include <doctest/doctest.h>

#include <vector>

#include "core/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "dist/communicator.h"
#include "dist/gradients.h"

namespace {

using ghm::Device;
using ghm::Shape;
using ghm::Tensor;

std::vector<float> values(std::int64_t n, float k) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = k * static_cast<float>(i % 97) - 3.0f;
  return v;
}

}  // namespace

TEST_CASE("cuda dist: all_reduce_sum and broadcast of CUDA tensors through NCCL") {
  auto& comm = ghm::dist::world();
  REQUIRE(std::string(comm.backend()) == "mpi+nccl");
  REQUIRE(comm.size() == 1);
  std::vector<Tensor> tensors;
  for (const std::int64_t n : {1, 1000, 1 << 20})
    tensors.push_back(Tensor::from_vector(values(n, 0.25f), Shape{n}).to(Device::cuda(0)));
  comm.all_reduce_sum(tensors);
  for (const Tensor& t : tensors) CHECK(t.to(Device::cpu()).to_vector<float>() == values(t.numel(), 0.25f));
  Tensor b = tensors[1];
  comm.broadcast(b, 0);
  CHECK(b.to(Device::cpu()).to_vector<float>() == values(1000, 0.25f));
}

TEST_CASE("cuda dist: average_gradients on the GPU leaves the gradients as the CPU path does") {
  auto& comm = ghm::dist::world();
  std::vector<Tensor> params;
  for (const Device device : {Device::cpu(), Device::cuda(0)}) {
    Tensor p = Tensor::zeros(Shape{5000}, ghm::DType::F32, device);
    p.set_requires_grad(true);
    ghm::sum(ghm::mul(p, Tensor::from_vector(values(5000, 0.5f), Shape{5000}).to(device))).backward();
    params.push_back(p);
  }
  const ghm::dist::ExchangeStats stats = ghm::dist::average_gradients(comm, params);
  CHECK(stats.calls == 0);  // one rank: nothing to exchange
  CHECK(params[1].grad().to(Device::cpu()).to_vector<float>() == params[0].grad().to_vector<float>());
}
