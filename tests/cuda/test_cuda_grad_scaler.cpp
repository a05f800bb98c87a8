// The loss scaler (nn/grad_scaler.h) on CUDA gradients: unscaling is exact and gives the CPU's
// norm, and one inf element on the device makes the norm inf, so the step is skipped and the
// scale halves. Run only where a GPU is present.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/random.h"
#include "nn/grad_scaler.h"
#include "nn/optim.h"

using namespace ghm;

namespace {

// Parameters on `device` whose gradients are `grads` (host values).
std::vector<Tensor> params_on(Device device, const std::vector<Tensor>& grads) {
  std::vector<Tensor> params;
  for (const Tensor& g : grads) {
    Tensor p = Tensor::zeros(g.shape()).to(device);
    p.set_requires_grad(true);
    p.set_grad(g.to(device));
    params.push_back(p);
  }
  return params;
}

}  // namespace

TEST_CASE("cuda grad scaler: unscaling is exact, and an inf gradient element skips the step and halves the scale") {
  Generator gen(9);
  std::vector<Tensor> grads{Tensor::normal(Shape{70000}, 0, 1e-4f, gen), Tensor::normal(Shape{33}, 0, 1, gen)};
  std::vector<Tensor> scaled;
  for (const Tensor& g : grads) {
    std::vector<float> v = g.to_vector<float>();
    for (float& x : v) x *= 1024.0f;
    scaled.push_back(Tensor::from_vector(v, g.shape()));
  }
  const Device gpu = Device::cuda(0);
  const std::vector<Tensor> on_gpu = params_on(gpu, scaled), on_cpu = params_on(Device::cpu(), grads);
  nn::GradScaler scaler({true, 1024.0, 2000});
  const double norm = scaler.unscale(on_gpu);
  CHECK(std::abs(norm - nn::grad_norm(on_cpu)) <= 1e-12 * norm);  // double sums in another order
  for (std::size_t k = 0; k < grads.size(); ++k)
    CHECK(on_gpu[k].grad().to(Device::cpu()).to_vector<float>() == grads[k].to_vector<float>());
  CHECK(scaler.update(norm));

  std::vector<float> v = grads[1].to_vector<float>();
  v[17] = std::numeric_limits<float>::infinity();
  const std::vector<Tensor> bad = params_on(gpu, {grads[0], Tensor::from_vector(v, grads[1].shape())});
  const double inf_norm = scaler.unscale(bad);
  CHECK_FALSE(std::isfinite(inf_norm));
  CHECK_FALSE(scaler.update(inf_norm));
  CHECK(scaler.scale() == 512.0);
}
