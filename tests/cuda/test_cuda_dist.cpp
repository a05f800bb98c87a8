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

TEST_CASE("cuda dist: bucketed gradients on the GPU, overlapped on NCCL's own stream, fp32 and bf16 on the wire") {
  // alone_too runs the whole exchange with one rank: buckets started during the backward on the
  // NCCL stream, the device stream made to wait, bf16 narrowing and widening. The CPU reducer with
  // the same options is the reference: a sum over one rank is the value itself, so the GPU
  // gradients must equal the CPU ones bit for bit (both round to bf16 to nearest even).
  auto& comm = ghm::dist::world();
  for (const ghm::Precision wire : {ghm::Precision::F32, ghm::Precision::BF16}) {
    std::vector<std::vector<float>> grads[2];
    for (const Device device : {Device::cpu(), Device::cuda(0)}) {
      std::vector<Tensor> params;
      for (int i = 0; i < 6; ++i) {
        Tensor p = Tensor::full(Shape{3000}, 1.0 + 0.01 * i, ghm::DType::F32, device);
        p.set_requires_grad(true);
        params.push_back(p);
      }
      ghm::dist::GradientReducer reducer(comm, params,
                                         {.bucket_bytes = 6000 * sizeof(float), .wire = wire, .alone_too = true});
      CHECK(reducer.buckets() == 3);
      Tensor x = Tensor::from_vector(values(3000, 0.013f), Shape{3000}).to(device);
      for (const Tensor& p : params) x = ghm::mul(x, p);
      {
        const ghm::GradReadyScope overlap = reducer.overlap();
        ghm::sum(x).backward();
      }
      const ghm::dist::ExchangeStats stats = reducer.finish();
      CHECK(stats.calls == 3);
      CHECK(stats.started_early == 3);
      CHECK(stats.bytes == 6 * 3000 * (wire == ghm::Precision::F32 ? 4u : 2u));
      for (const Tensor& p : params) grads[device.is_cuda()].push_back(p.grad().to(Device::cpu()).to_vector<float>());
    }
    INFO("wire ", ghm::precision_name(wire));
    CHECK(grads[1] == grads[0]);
  }
}
