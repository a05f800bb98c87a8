// The loss scaler (nn/grad_scaler.h) on CPU gradients: unscaling is exact for powers of two, an
// inf or NaN gradient skips the step and halves the scale, good steps double it after the growth
// interval, a fixed scale never changes, and bad settings and states are refused. Its CUDA path
// (the same nn::grad_norm / nn::scale_grads on device gradients) is in tests/cuda.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/random.h"
#include "nn/grad_scaler.h"
#include "nn/optim.h"

using namespace ghm;

namespace {

// Two parameters whose gradients are `values` and its negation, times `scale`.
std::vector<Tensor> params_with_grads(const std::vector<float>& values, float scale) {
  std::vector<Tensor> params;
  for (const float sign : {1.0f, -1.0f}) {
    Tensor p = Tensor::zeros(Shape{static_cast<std::int64_t>(values.size())});
    p.set_requires_grad(true);
    std::vector<float> g;
    for (const float v : values) g.push_back(sign * v * scale);
    p.set_grad(Tensor::from_vector(g, p.shape()));
    params.push_back(p);
  }
  return params;
}

}  // namespace

TEST_CASE("grad scaler: unscaling by a power of two is exact and the norm is that of the unscaled gradients") {
  Generator gen(5);
  const Tensor g = Tensor::normal(Shape{1000}, 0, 1e-3f, gen);
  const std::vector<float> values = g.to_vector<float>();
  nn::GradScaler scaler({true, 65536.0, 2000});
  const std::vector<Tensor> scaled = params_with_grads(values, 65536.0f), plain = params_with_grads(values, 1.0f);
  const double norm = scaler.unscale(scaled);
  CHECK(norm == nn::grad_norm(plain));
  for (std::size_t k = 0; k < 2; ++k) CHECK(scaled[k].grad().to_vector<float>() == plain[k].grad().to_vector<float>());
}

TEST_CASE("grad scaler: inf or NaN skips the step and halves the scale, and good steps double it after the interval") {
  nn::GradScaler scaler({true, 1024.0, 3});
  CHECK(scaler.update(1.0));
  CHECK(scaler.update(2.0));
  CHECK(scaler.scale() == 1024.0);
  CHECK(scaler.good_steps() == 2);
  CHECK(scaler.update(3.0));  // the third good step in a row
  CHECK(scaler.scale() == 2048.0);
  CHECK(scaler.good_steps() == 0);
  CHECK(scaler.update(1.0));
  CHECK_FALSE(scaler.update(std::numeric_limits<double>::infinity()));
  CHECK(scaler.scale() == 1024.0);
  CHECK(scaler.good_steps() == 0);  // the count starts again
  CHECK_FALSE(scaler.update(std::nan("")));
  CHECK(scaler.scale() == 512.0);
  CHECK(scaler.skipped_steps() == 2);
  CHECK(scaler.skipped_in_a_row() == 2);  // the trainer gives up at kMaxSkippedInARow
  CHECK(scaler.update(1.0));
  CHECK(scaler.skipped_in_a_row() == 0);
  CHECK(scaler.skipped_steps() == 2);
  // A real overflow: gradients of 1e30 scaled by 2^127 are inf in float32.
  nn::GradScaler huge({true, 0x1p127, 2000});
  const std::vector<Tensor> params = params_with_grads({1.0f, 2.0f}, 1e30f);
  for (Tensor p : params) p.grad().data<float>()[0] *= 0x1p100f;  // 1e30 * 2^100 overflows
  const double norm = huge.unscale(params);
  CHECK_FALSE(std::isfinite(norm));
  CHECK_FALSE(huge.update(norm));
  CHECK(huge.scale() == 0x1p126);
}

TEST_CASE("grad scaler: a fixed scale never changes and reports non-finite norms to the caller") {
  nn::GradScaler fixed({false, 1.0, 2000});
  CHECK_FALSE(fixed.dynamic());
  for (int i = 0; i < 5; ++i) CHECK(fixed.update(1.0));
  CHECK_FALSE(fixed.update(std::numeric_limits<double>::infinity()));
  CHECK(fixed.scale() == 1.0);
  CHECK(fixed.skipped_steps() == 0);
}

TEST_CASE("grad scaler: settings and restored states are checked") {
  CHECK_THROWS_WITH_AS(nn::GradScaler({true, 1000.0, 10}), doctest::Contains("loss scale 1000 must be a power of two"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::GradScaler({true, 1024.0, 0}), doctest::Contains("growth interval 0 must be positive"),
                       Error);
  nn::GradScaler scaler({true, 1024.0, 10});
  scaler.restore(32.0, 7);
  CHECK(scaler.scale() == 32.0);
  CHECK(scaler.good_steps() == 7);
  CHECK_THROWS_WITH_AS(scaler.restore(3.0, 0), doctest::Contains("loss scale 3 is not a power of two"), Error);
  CHECK_THROWS_WITH_AS(scaler.restore(8.0, -1), doctest::Contains("good steps -1 is negative"), Error);
}
