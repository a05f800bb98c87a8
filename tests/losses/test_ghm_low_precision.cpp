// The losses under mixed precision (core/precision.h). The head's outputs reach the losses as
// float32 in every precision, so GHM-C and GHM-R must compute g, its bin, the weights and the loss
// from those values exactly as a float32 run would: here logits and deltas rounded to bf16 and to
// fp16 (what a 16-bit head could produce) go through GHM-C, GHM-R and the baselines inside an
// AutocastScope and outside one, with the same bits required. Extreme values, up to each 16-bit
// type's largest finite number, must give finite losses and gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/bfloat16.h"
#include "core/precision.h"
#include "core/random.h"
#include "losses/baselines.h"
#include "losses/ghm_c.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;

namespace {

// x rounded to IEEE half (11 significant bits, nearest-even, subnormals below 2^-14, inf above
// 65504), returned as float.
float round_to_fp16(float x) {
  if (!std::isfinite(x) || x == 0) return x;
  const float a = std::abs(x);
  if (a >= 65520.0f) return std::copysign(std::numeric_limits<float>::infinity(), x);  // rounds past 65504
  int exponent = 0;
  std::frexp(a, &exponent);                                 // a = m * 2^exponent, m in [0.5, 1)
  const int quantum = std::max(exponent - 11, -24);         // the spacing of halves near a
  const float q = std::ldexp(1.0f, quantum);
  return std::copysign(std::nearbyint(a / q) * q, x);       // default rounding mode: to nearest even
}

float round_to_bf16(float x) { return bf16_to_float(float_to_bf16(x)); }

Tensor rounded(const Tensor& t, float (*round)(float)) {
  Tensor r = t.clone();
  for (float& v : std::span(r.data<float>(), static_cast<std::size_t>(r.numel()))) v = round(v);
  return r;
}

bool all_finite(const Tensor& t) {
  for (const float v : t.to_vector<float>())
    if (!std::isfinite(v)) return false;
  return true;
}

void check_same(const GhmResult& a, const GhmResult& b) {
  CHECK(a.total == b.total);
  CHECK(a.grad.to_vector<float>() == b.grad.to_vector<float>());
  CHECK(a.element_weight.to_vector<float>() == b.element_weight.to_vector<float>());
  REQUIRE(a.calls.size() == b.calls.size());
  for (std::size_t c = 0; c < a.calls.size(); ++c) {
    CHECK(a.calls[c].num_in_bin == b.calls[c].num_in_bin);
    CHECK(a.calls[c].bin_weight == b.calls[c].bin_weight);
  }
}

}  // namespace

// A guard more than a measurement: the losses must never read the autocast scope (a future change
// that made them follow it would fail here), and on 16-bit values they compute float32's numbers.
TEST_CASE("losses under autocast: 16-bit head outputs give float32's bins, weights, loss and gradient") {
  Generator gen(61);
  const Tensor logits = Tensor::normal(Shape{600, 8}, 0, 3, gen), deltas = Tensor::normal(Shape{200, 4}, 0, 0.3f, gen);
  const Tensor targets = Tensor::normal(Shape{200, 4}, 0, 0.3f, gen);
  std::vector<std::int64_t> labels(600);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i * 7 % 9);  // 8 = background
  const Tensor label_t = Tensor::from_vector(labels, Shape{600}), cls_w = Tensor::ones(Shape{600});
  const Tensor reg_w = Tensor::ones(Shape{200, 4});
  const std::vector<std::int64_t> levels{0, 400, 600};
  for (const auto& [name, round] : {std::pair{"bf16", &round_to_bf16}, std::pair{"fp16", &round_to_fp16}}) {
    CAPTURE(name);
    const Tensor x = rounded(logits, round), d = rounded(deltas, round);
    const GhmSettings c = GhmSettings::classification(30, 0.75, 1.0f), r = GhmSettings::regression(0.02f, 10, 0.7, 1.0f);
    GhmEmaState c1(c.bins()), c2(c.bins()), r1(r.bins()), r2(r.bins());
    for (int step = 0; step < 2; ++step) {  // the second step also reads the EMA state
      const GhmResult plain_c = ghm_c_forward(x, label_t, cls_w, c, c1, levels, ElementWeights::Keep);
      const GhmResult plain_r = ghm_r_forward(d, targets, reg_w, r, r1, {}, ElementWeights::Keep);
      const AutocastScope autocast(name == std::string("bf16") ? Precision::BF16 : Precision::F16);
      check_same(ghm_c_forward(x, label_t, cls_w, c, c2, levels, ElementWeights::Keep), plain_c);
      check_same(ghm_r_forward(d, targets, reg_w, r, r2, {}, ElementWeights::Keep), plain_r);
    }
    const Tensor plain_focal = sigmoid_focal_loss(x, label_t, cls_w, 50.0);
    const AutocastScope autocast(Precision::BF16);
    CHECK(sigmoid_focal_loss(x, label_t, cls_w, 50.0).item() == plain_focal.item());
  }
}

TEST_CASE("losses: extreme logits (to bf16's largest value) and deltas (to fp16's) give finite losses and gradients") {
  const float bf16_max = bf16_to_float(0x7F7F);  // 3.39e38
  const std::vector<float> values{30.0f, -30.0f, 1e4f, -1e4f, 65504.0f, -65504.0f, bf16_max, -bf16_max, 0.0f, 2.5f};
  const auto n = static_cast<std::int64_t>(values.size());
  Tensor x = Tensor::from_vector(values, Shape{n, 1});
  std::vector<std::int64_t> labels(values.size());
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 2);  // 1 = background
  const Tensor label_t = Tensor::from_vector(labels, Shape{n}), w = Tensor::ones(Shape{n});
  x.set_requires_grad(true);
  GhmEmaState state(30);
  const std::vector<Tensor> cls{ghm_c_loss(x, label_t, w, GhmSettings::classification(30, 0.75, 1.0f), state),
                                sigmoid_focal_loss(x, label_t, w, 5.0), bce_with_logits_loss(x, label_t, w, 5.0)};
  for (const Tensor& loss : cls) {
    CHECK(std::isfinite(loss.item()));
    x.zero_grad();
    loss.backward();
    CHECK(all_finite(x.grad()));
  }
  // Box deltas up to fp16's largest value: GHM-R (ASL1: sqrt(d^2 + mu^2) - mu) and smooth L1. (bf16's
  // largest deltas would make a sum of |d| beyond float32's range: infinite in any precision.)
  const std::vector<float> deltas{30.0f, -30.0f, 1e4f, -1e4f, 65504.0f, -65504.0f, 0.0f, 2.5f};
  const auto m = static_cast<std::int64_t>(deltas.size());
  Tensor d = Tensor::from_vector(deltas, Shape{m / 2, 2});
  d.set_requires_grad(true);
  const Tensor t = Tensor::zeros(Shape{m / 2, 2}), dw = Tensor::ones(Shape{m / 2, 2});
  GhmEmaState reg_state(10);
  for (const Tensor& loss : {ghm_r_loss(d, t, dw, GhmSettings::regression(0.02f, 10, 0.7, 1.0f), reg_state),
                             smooth_l1_loss(d, t, dw, 5.0)}) {
    CHECK(std::isfinite(loss.item()));
    d.zero_grad();
    loss.backward();
    CHECK(all_finite(d.grad()));
  }
}
