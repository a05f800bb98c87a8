// Backend consistency for the shape ops on CUDA: permute (every order, every element size,
// shapes that coalesce to transposes, copies and single elements), narrow and concat, forward and
// backward, bit for bit against the CPU (they only move data). Run only where a GPU is present.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/autograd.h"
#include "core/ops/shape_ops.h"
#include "core/random.h"
#include "core/tensor.h"

using namespace ghm;

namespace {

const Device kGpu = Device::cuda(0);

template <class T>
void check_permutes(const Shape& s) {
  std::vector<T> values(static_cast<std::size_t>(s.numel()));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<T>(i * 13 + 5);
  const Tensor x = Tensor::from_vector<T>(values, s);
  const Tensor xg = x.to(kGpu);
  std::vector<int> order(static_cast<std::size_t>(s.ndim()));
  std::iota(order.begin(), order.end(), 0);
  do {
    INFO(s << " order " << doctest::toString(order));
    CHECK(permute(xg, order).to(Device::cpu()).template to_vector<T>() == permute(x, order).template to_vector<T>());
  } while (std::next_permutation(order.begin(), order.end()));
}

}  // namespace

TEST_CASE("cuda shape ops: permute equals the CPU for every order and element size") {
  for (const Shape& s : {Shape{5}, Shape{1, 1, 1}, Shape{3, 33}, Shape{2, 1, 40, 3}, Shape{2, 9, 33, 35},
                         Shape{3, 2, 1, 4, 5}}) {
    check_permutes<float>(s);
    check_permutes<std::int64_t>(s);
    check_permutes<std::uint8_t>(s);
  }
}

TEST_CASE("cuda shape ops: narrow and concat, forward and backward, equal the CPU") {
  Generator gen(41);
  const Tensor a = Tensor::normal(Shape{2, 3, 5, 7}, 0, 1, gen), b = Tensor::normal(Shape{2, 4, 5, 7}, 0, 1, gen);
  for (int dim : {0, 1, 2, 3}) {
    const std::int64_t extent = a.shape()[dim];
    Tensor ac = a.clone(), ag = a.to(kGpu);
    ac.set_requires_grad(true);
    ag.set_requires_grad(true);
    const Tensor nc = narrow(ac, dim, 1, extent - 1), ng = narrow(ag, dim, 1, extent - 1);
    CHECK(ng.to(Device::cpu()).to_vector<float>() == nc.to_vector<float>());
    const Tensor w = Tensor::normal(nc.shape(), 0, 1, gen);
    nc.backward(w);
    ng.backward(w.to(kGpu));
    CHECK(ag.grad().to(Device::cpu()).to_vector<float>() == ac.grad().to_vector<float>());
  }
  Tensor ac = a.clone(), bc = b.clone(), ag = a.to(kGpu), bg = b.to(kGpu);
  for (Tensor* t : {&ac, &bc, &ag, &bg}) t->set_requires_grad(true);
  const Tensor cc = concat({ac, bc}, 1), cg = concat({ag, bg}, 1);
  CHECK(cg.to(Device::cpu()).to_vector<float>() == cc.to_vector<float>());
  const Tensor w = Tensor::normal(cc.shape(), 0, 1, gen);
  cc.backward(w);
  cg.backward(w.to(kGpu));
  CHECK(ag.grad().to(Device::cpu()).to_vector<float>() == ac.grad().to_vector<float>());
  CHECK(bg.grad().to(Device::cpu()).to_vector<float>() == bc.grad().to_vector<float>());
}
