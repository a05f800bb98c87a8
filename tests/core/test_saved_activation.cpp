// Activations kept for backward in 16 bits under bf16 autocast (core/saved_activation.h): what is
// packed and what is not, one copy per activation, exact ReLU masks, norms left in float32, and a
// chain of convolutions that keeps half the bytes with the same gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/bfloat16.h"
#include "core/ops/conv.h"
#include "core/ops/elementwise.h"
#include "core/ops/norm.h"
#include "core/ops/reduce.h"
#include "core/precision.h"
#include "core/random.h"
#include "core/saved_activation.h"
#include "core/storage.h"
#include "cpu_bf16.h"

namespace ghm {
namespace {

Tensor random_tensor(const Shape& shape, std::uint64_t seed, float scale = 1.f) {
  Generator gen(seed);
  return Tensor::normal(shape, 0.f, scale, gen);
}

// A float32 op output (not a leaf): the kind of tensor a forward pass keeps.
Tensor activation(const Shape& shape, std::uint64_t seed) { return mul_scalar(random_tensor(shape, seed), 1.f); }

}  // namespace

TEST_CASE("saved activation: float32 keeps the tensor itself, bf16 keeps its nearest bf16 values") {
  const Tensor x = activation(Shape{3, 5, 7}, 1);
  {
    const SavedActivation kept(x);
    CHECK_FALSE(kept.packed());
    CHECK(kept.get().shares_storage_with(x));
  }
  const AutocastScope bf16(Precision::BF16);
  const SavedActivation kept(x);
  REQUIRE(kept.packed());
  const Tensor back = kept.get();
  CHECK(back.shape() == x.shape());
  CHECK_FALSE(back.shares_storage_with(x));
  const std::vector<float> a = x.to_vector<float>(), b = back.to_vector<float>();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == bf16_to_float(float_to_bf16(a[i])));  // the same bits
}

TEST_CASE("saved activation: parameters, integer and unsaved tensors stay as they are under bf16") {
  const AutocastScope bf16(Precision::BF16);
  Tensor weight = random_tensor(Shape{4, 4}, 2);
  weight.set_requires_grad(true);
  CHECK_FALSE(SavedActivation(weight).packed());  // its float32 master stays alive anyway
  CHECK_FALSE(SavedActivation(Tensor::zeros(Shape{8}, DType::I64)).packed());
  CHECK_FALSE(save_if(false, weight).defined());
  CHECK(SavedActivation(random_tensor(Shape{8}, 3)).packed());  // a leaf without grad (an image) is data
}

TEST_CASE("saved activation: ops keeping one activation share one 16-bit copy, and the float32 block is freed") {
  const AutocastScope bf16(Precision::BF16);
  const std::int64_t n = 1 << 16;
  const std::int64_t before = Storage::host_live_bytes();
  Storage::reset_host_peak();
  SavedActivation first, second, reshaped;
  {
    const Tensor x = activation(Shape{n}, 4);
    // The high-water mark so far: the random tensor and its product both alive, before the first is freed.
    CHECK(Storage::host_peak_bytes() - before == n * 8);
    first = SavedActivation(x);
    second = SavedActivation(x);
    reshaped = SavedActivation(x.reshape(Shape{256, n / 256}));
    CHECK(Storage::host_live_bytes() - before == n * 4 + n * 2);  // x and one copy
  }
  CHECK(Storage::host_live_bytes() - before == n * 2);  // x is gone, the copy stays
  CHECK(Storage::host_peak_bytes() - before == n * 8);
  Storage::reset_host_peak();
  CHECK(Storage::host_peak_bytes() == Storage::host_live_bytes());
  CHECK(reshaped.get().shape() == Shape{256, n / 256});
  // A new tensor gets a copy of its own.
  const Tensor y = activation(Shape{n}, 5);
  const SavedActivation third(y);
  CHECK(third.get().to_vector<float>()[7] == bf16_to_float(float_to_bf16(y.to_vector<float>()[7])));
  CHECK(first.get().to_vector<float>() == second.get().to_vector<float>());
}

TEST_CASE("saved activation: ReLU and add_relu gradients under bf16 equal float32's bit for bit") {
  Tensor a = random_tensor(Shape{4, 9, 11}, 7), b = random_tensor(Shape{4, 9, 11}, 8);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  const Tensor upstream = random_tensor(Shape{4, 9, 11}, 9);
  auto grads = [&](Precision p) {
    Tensor y;
    {
      const AutocastScope scope(p);
      y = add(relu(mul_scalar(a, 1.f)), add_relu(a, b));
    }
    y.backward(upstream);
    std::vector<float> out = a.grad().to_vector<float>();
    const std::vector<float> gb = b.grad().to_vector<float>();
    out.insert(out.end(), gb.begin(), gb.end());
    a.zero_grad();
    b.zero_grad();
    return out;
  };
  CHECK(grads(Precision::F32) == grads(Precision::BF16));
}

TEST_CASE("saved activation: batch and group norm keep their inputs in float32, so their gradients equal float32's") {
  const Tensor x0 = add_scalar(random_tensor(Shape{2, 6, 5, 7}, 10), 3.f), dy = random_tensor(Shape{2, 6, 5, 7}, 11);
  Tensor gamma = add_scalar(random_tensor(Shape{6}, 12, 0.5f), 1.f), beta = random_tensor(Shape{6}, 13);
  gamma.set_requires_grad(true);
  beta.set_requires_grad(true);
  for (const bool batch : {false, true}) {
    CAPTURE(batch);
    auto grads = [&](Precision p) {
      Tensor x = x0.clone();
      x.set_requires_grad(true);
      Tensor running_mean = Tensor::zeros(Shape{6}), running_var = Tensor::ones(Shape{6}), y;
      {
        const AutocastScope scope(p);
        const Tensor xa = mul_scalar(x, 1.f);  // an activation (x itself, a leaf, stays float32 anyway)
        y = batch ? batch_norm(xa, gamma, beta, running_mean, running_var, BatchNormMode::Train, 0.1f, 1e-5f)
                  : group_norm(xa, 3, gamma, beta, 1e-5f);
      }
      y.backward(dy);
      std::vector<float> out = x.grad().to_vector<float>();
      for (Tensor* t : {&gamma, &beta}) {
        const std::vector<float> g = t->grad().to_vector<float>();
        out.insert(out.end(), g.begin(), g.end());
        t->zero_grad();
      }
      return out;
    };
    CHECK(grads(Precision::F32) == grads(Precision::BF16));
  }
}

namespace {

// relu(conv(x)) `layers` times, 3x3, C channels in and out, and the bytes kept for backward.
struct ConvChain {
  std::vector<Tensor> weights;
  Tensor bias;
  explicit ConvChain(int layers, std::int64_t channels) {
    for (int i = 0; i < layers; ++i) {
      weights.push_back(random_tensor(Shape{channels, channels, 3, 3}, 20 + static_cast<std::uint64_t>(i), 0.15f));
      weights.back().set_requires_grad(true);
    }
    bias = Tensor::zeros(Shape{channels});
    bias.set_requires_grad(true);
  }
  Tensor forward(Tensor h) const {
    for (const Tensor& w : weights) h = conv2d_relu(h, w, bias, Conv2dParams::square(1, 1));
    return h;
  }
  std::vector<float> grads() {
    std::vector<float> out;
    for (Tensor& w : weights) {
      const std::vector<float> g = w.grad().to_vector<float>();
      out.insert(out.end(), g.begin(), g.end());
      w.zero_grad();
    }
    bias.zero_grad();
    return out;
  }
};

}  // namespace

TEST_CASE("saved activation: a chain of convolutions keeps half the bytes for backward under bf16, and the same gradients") {
  if (testing::skip_without_bf16_convolutions()) return;
  ConvChain chain(8, 16);
  Tensor x = random_tensor(Shape{2, 16, 24, 24}, 30);
  x.set_requires_grad(true);
  // Each layer keeps its input (for dW) and its output (the ReLU's mask): one tensor per layer, the
  // output being the next layer's input. The bytes alive once the forward is done, its output dropped:
  auto kept_bytes = [&](Precision p) {
    const std::int64_t before = Storage::host_live_bytes();
    Tensor loss;
    {
      const AutocastScope scope(p);
      loss = sum(chain.forward(x));
    }
    const std::int64_t kept = Storage::host_live_bytes() - before;
    loss.backward();
    x.zero_grad();
    chain.grads();
    return kept;
  };
  const std::int64_t f32 = kept_bytes(Precision::F32), b16 = kept_bytes(Precision::BF16);
  const double ratio = static_cast<double>(b16) / static_cast<double>(f32);
  MESSAGE("bytes kept for backward by 8 conv + ReLU layers: float32 ", f32, ", bf16 ", b16, " (", ratio, "x)");
  CHECK(ratio == doctest::Approx(0.5).epsilon(0.001));

  // Keeping x in bf16 changes no bit: dW reads x rounded to bf16 either way. A leaf that requires
  // grad is kept as is (its master copy is alive anyway), an op's output is packed: same gradients.
  const Tensor upstream = random_tensor(Shape{2, 16, 24, 24}, 31);
  auto grads = [&](bool packed_input) {
    Tensor y;
    {
      const AutocastScope scope(Precision::BF16);
      y = chain.forward(packed_input ? mul_scalar(x, 1.f) : x);
    }
    y.backward(upstream);
    std::vector<float> out = chain.grads(), gx = x.grad().to_vector<float>();
    out.insert(out.end(), gx.begin(), gx.end());
    x.zero_grad();
    return out;
  };
  CHECK(grads(false) == grads(true));
}

TEST_CASE("saved activation: 1x1, strided, grouped and dilated convolutions give the same gradients from a packed input") {
  if (testing::skip_without_bf16_convolutions()) return;
  struct Case {
    Shape w;
    Conv2dParams p;
  };
  const std::vector<Case> cases{{Shape{12, 8, 1, 1}, Conv2dParams::square(2, 0)},
                                {Shape{12, 2, 3, 3}, Conv2dParams::square(1, 2, 2, 4)},
                                {Shape{12, 8, 3, 3}, Conv2dParams::square(2, 1)}};
  Tensor x = random_tensor(Shape{2, 8, 13, 11}, 40);
  x.set_requires_grad(true);
  for (std::size_t k = 0; k < cases.size(); ++k) {
    CAPTURE(k);
    Tensor w = random_tensor(cases[k].w, 41 + k, 0.2f);
    w.set_requires_grad(true);
    // The leaf x is kept as is, x * 1 (an op's output) packed: dW and dx must not differ in a bit.
    auto grads = [&](bool packed_input) {
      Tensor y;
      {
        const AutocastScope scope(Precision::BF16);
        y = conv2d(packed_input ? mul_scalar(x, 1.f) : x, w, Tensor(), cases[k].p);
      }
      y.backward(Tensor::ones(y.shape()));
      std::vector<float> out = w.grad().to_vector<float>(), gx = x.grad().to_vector<float>();
      out.insert(out.end(), gx.begin(), gx.end());
      w.zero_grad();
      x.zero_grad();
      return out;
    };
    CHECK(grads(false) == grads(true));
  }
}

}  // namespace ghm
