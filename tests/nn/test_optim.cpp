// SGD, gradient clipping and the learning-rate schedule against values computed by hand (in
// double, from the formulas in nn/optim.h). Tolerance: float32 parameters updated a few times,
// relative 1e-6.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/optim.h"

using namespace ghm;

namespace {

Tensor param(std::vector<float> v) {
  Tensor t = Tensor::from_vector(v, Shape{static_cast<std::int64_t>(v.size())});
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST_CASE("optim: SGD with momentum and weight decay follows PyTorch's update") {
  Tensor w = param({1.0f, -2.0f});
  Tensor b = param({0.5f});
  nn::Sgd sgd({{"w", w}, {"b", b}}, {0.1f, 0.9f, 0.01f, false});  // no decay on 1-D parameters (both are)
  const std::vector<std::vector<float>> grads = {{0.3f, -0.1f}, {0.2f, 0.4f}, {-0.5f, 0.0f}};
  double pw[2] = {1.0, -2.0}, buf[2] = {0, 0};
  for (std::size_t s = 0; s < grads.size(); ++s) {
    w.set_grad(Tensor::from_vector(grads[s], Shape{2}));
    b.set_grad(Tensor::from_vector<float>({1.0f}, Shape{1}));
    sgd.step(0.1f);
    for (int i = 0; i < 2; ++i) {
      const double d = grads[s][static_cast<std::size_t>(i)];  // 1-D: no weight decay
      buf[i] = s == 0 ? d : 0.9 * buf[i] + d;
      pw[i] -= 0.1 * buf[i];
      CHECK(w.data<float>()[i] == doctest::Approx(pw[i]).epsilon(1e-6));
    }
  }
  CHECK(b.data<float>()[0] == doctest::Approx(0.5 - 0.1 * (1 + 1.9 + 2.71)).epsilon(1e-6));

  // Weight decay applies to 2-D parameters, and to all when decay_norm_and_bias is on.
  Tensor m = Tensor::from_vector<float>({2.0f, 4.0f}, Shape{1, 2});
  m.set_requires_grad(true);
  nn::Sgd plain({{"m", m}}, {0.5f, 0.0f, 0.1f, false});
  m.set_grad(Tensor::zeros(Shape{1, 2}));
  plain.step(0.5f);
  CHECK(m.data<float>()[0] == doctest::Approx(2.0 - 0.5 * 0.1 * 2.0));
  CHECK(m.data<float>()[1] == doctest::Approx(4.0 - 0.5 * 0.1 * 4.0));
}

TEST_CASE("optim: momentum state round trip continues exactly, frozen and gradient-less parameters are skipped") {
  auto run = [](int steps_before, bool reload) {
    Tensor w = param({1.0f, 2.0f, 3.0f});
    Tensor frozen = Tensor::ones(Shape{2});
    nn::Sgd sgd({{"w", w}, {"frozen", frozen}}, {0.05f, 0.9f, 1e-4f, true});
    for (int s = 0; s < steps_before; ++s) {
      w.set_grad(Tensor::from_vector<float>({0.1f * s, -0.2f, 0.3f}, Shape{3}));
      sgd.step(0.05f);
    }
    if (reload) {
      const auto state = sgd.state();
      const std::vector<float> values = w.to_vector<float>();
      Tensor w2 = param(values);
      nn::Sgd again({{"w", w2}}, {0.05f, 0.9f, 1e-4f, true});
      again.load_state(state);
      w2.set_grad(Tensor::from_vector<float>({0.5f, 0.5f, 0.5f}, Shape{3}));
      again.step(0.05f);
      return w2.to_vector<float>();
    }
    w.set_grad(Tensor::from_vector<float>({0.5f, 0.5f, 0.5f}, Shape{3}));
    sgd.step(0.05f);
    CHECK(frozen.to_vector<float>() == std::vector<float>{1.0f, 1.0f});
    return w.to_vector<float>();
  };
  CHECK(run(3, true) == run(3, false));
  Tensor w = param({1.0f});
  nn::Sgd sgd({{"w", w}}, {});
  sgd.step(0.1f);  // no gradient: untouched
  CHECK(w.to_vector<float>() == std::vector<float>{1.0f});
  CHECK_THROWS_WITH_AS(sgd.load_state({{"momentum.x", Tensor::zeros(Shape{1})}}), doctest::Contains("momentum.x"), Error);
}

TEST_CASE("optim: clipping by global norm") {
  Tensor a = param({0.0f, 0.0f}), b = param({0.0f});
  a.set_grad(Tensor::from_vector<float>({3.0f, 0.0f}, Shape{2}));
  b.set_grad(Tensor::from_vector<float>({4.0f}, Shape{1}));
  CHECK(nn::clip_grad_norm({a, b}, 1.0) == doctest::Approx(5.0));
  CHECK(a.grad().data<float>()[0] == doctest::Approx(3.0 / (5.0 + 1e-6)).epsilon(1e-6));
  CHECK(b.grad().data<float>()[0] == doctest::Approx(4.0 / (5.0 + 1e-6)).epsilon(1e-6));
  CHECK(nn::clip_grad_norm({a, b}, 35.0) == doctest::Approx(1.0).epsilon(1e-5));  // under the limit: unchanged
  CHECK(b.grad().data<float>()[0] == doctest::Approx(4.0 / (5.0 + 1e-6)).epsilon(1e-6));
}

TEST_CASE("optim: warmup then step decay, as mmdetection's schedule") {
  const nn::LrSchedule s{0.01f, 500, 1.0f / 3.0f, {8000, 11000}, 0.1f};
  CHECK(s.at(0) == doctest::Approx(0.01 / 3.0).epsilon(1e-6));
  CHECK(s.at(250) == doctest::Approx(0.01 * (1.0 - 0.5 * 2.0 / 3.0)).epsilon(1e-6));
  CHECK(s.at(499) == doctest::Approx(0.01 * (1.0 - (1.0 / 500) * 2.0 / 3.0)).epsilon(1e-6));
  CHECK(s.at(500) == doctest::Approx(0.01));
  CHECK(s.at(7999) == doctest::Approx(0.01));
  CHECK(s.at(8000) == doctest::Approx(0.001));
  CHECK(s.at(11000) == doctest::Approx(0.0001));
  CHECK_THROWS_AS(s.at(-1), Error);
}
