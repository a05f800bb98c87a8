// Backend consistency for the normalisation layers (core/cuda/norm_cuda.h) against the CPU with the
// same random inputs: batch norm in training (output, the gradients of x, weight and bias, and the
// running buffers after the update, which stay on the device) and in evaluation, with and without
// the affine parameters; frozen batch norm and its folded scale and shift; group norm with 1, 32
// and C groups. Shapes: odd sizes, C = 1, H = W = 1, N = 1, 2-D and 3-D inputs, sizes that span
// several reduction chunks, and empty inputs. Plus the same bits on every run, and the errors for
// parameters on another device. Run only where a GPU is present.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/ops/norm.h"
#include "core/random.h"
#include "core/tensor.h"
#include "compare.h"

using namespace ghm;
using ghm::testing::normalised_error;

namespace {

const Device kGpu = Device::cuda(0);

// The statistics are double sums of the same float terms on both sides (only the order of the
// additions differs), so they round to the same float or a neighbour; every output is then a few
// float operations away: ~1e-6 normalised, 1e-5 leaves room.
constexpr double kForwardTolerance = 1e-5;
// The input gradient subtracts two per-channel sums from M * dy (cancellation), and the weight
// and bias gradients are sums of up to ~3e4 float terms rounded once: 1e-4.
constexpr double kGradTolerance = 1e-4;

// The same values as a CPU leaf and a CUDA leaf, both requiring grad; both undefined when t is.
struct Leaf {
  Tensor cpu, gpu;
};

Leaf leaves(const Tensor& t) {
  if (!t.defined()) return {};
  Leaf l{t.clone(), t.to(kGpu)};
  l.cpu.set_requires_grad(true);
  l.gpu.set_requires_grad(true);
  return l;
}

Tensor on_gpu(const Tensor& t) { return t.defined() ? t.to(kGpu) : Tensor(); }

void check_grad(const Leaf& l, const char* what) {
  if (!l.cpu.defined()) return;
  INFO("gradient of " << what);
  REQUIRE(l.cpu.grad().defined());
  REQUIRE(l.gpu.grad().defined());
  CHECK(l.gpu.grad().device() == kGpu);
  CHECK(normalised_error(l.gpu.grad(), l.cpu.grad()) <= kGradTolerance);
}

void check_batch_norm(const Shape& shape, BatchNormMode mode, bool affine) {
  Generator gen(59);
  const std::int64_t c = shape[1];
  const Leaf x = leaves(Tensor::normal(shape, 0.5f, 2.0f, gen));
  const Leaf w = leaves(affine ? Tensor::uniform(Shape{c}, 0.5f, 1.5f, gen) : Tensor());
  const Leaf b = leaves(affine ? Tensor::normal(Shape{c}, 0, 1, gen) : Tensor());
  const Tensor rm = Tensor::normal(Shape{c}, 0, 1, gen), rv = Tensor::uniform(Shape{c}, 0.5f, 2.0f, gen);
  Tensor rm_cpu = rm.clone(), rv_cpu = rv.clone(), rm_gpu = rm.to(kGpu), rv_gpu = rv.to(kGpu);
  const Tensor yc = batch_norm(x.cpu, w.cpu, b.cpu, rm_cpu, rv_cpu, mode, 0.1f, 1e-5f);
  const Tensor yg = batch_norm(x.gpu, w.gpu, b.gpu, rm_gpu, rv_gpu, mode, 0.1f, 1e-5f);
  INFO("batch_norm " << (mode == BatchNormMode::Train ? "train" : "eval") << (affine ? "" : " without affine")
                     << " of " << shape);
  CHECK(yg.device() == kGpu);
  CHECK(normalised_error(yg, yc) <= kForwardTolerance);
  CHECK(rm_gpu.device() == kGpu);
  CHECK(rv_gpu.device() == kGpu);
  CHECK(normalised_error(rm_gpu, rm_cpu) <= kForwardTolerance);
  CHECK(normalised_error(rv_gpu, rv_cpu) <= kForwardTolerance);
  if (mode == BatchNormMode::Eval) {  // evaluation leaves the buffers alone, bit for bit
    CHECK(rm_gpu.to(Device::cpu()).to_vector<float>() == rm.to_vector<float>());
    CHECK(rv_gpu.to(Device::cpu()).to_vector<float>() == rv.to_vector<float>());
  }
  const Tensor dy = Tensor::normal(shape, 0, 1, gen);
  yc.backward(dy);
  yg.backward(dy.to(kGpu));
  check_grad(x, "x");
  check_grad(w, "weight");
  check_grad(b, "bias");
}

void check_group_norm(const Shape& shape, int groups, bool affine) {
  Generator gen(61);
  const std::int64_t c = shape[1];
  const Leaf x = leaves(Tensor::normal(shape, 0.5f, 2.0f, gen));
  const Leaf w = leaves(affine ? Tensor::uniform(Shape{c}, 0.5f, 1.5f, gen) : Tensor());
  const Leaf b = leaves(affine ? Tensor::normal(Shape{c}, 0, 1, gen) : Tensor());
  const Tensor yc = group_norm(x.cpu, groups, w.cpu, b.cpu, 1e-5f);
  const Tensor yg = group_norm(x.gpu, groups, w.gpu, b.gpu, 1e-5f);
  INFO("group_norm " << groups << " groups" << (affine ? "" : " without affine") << " of " << shape);
  CHECK(yg.device() == kGpu);
  CHECK(normalised_error(yg, yc) <= kForwardTolerance);
  const Tensor dy = Tensor::normal(shape, 0, 1, gen);
  yc.backward(dy);
  yg.backward(dy.to(kGpu));
  check_grad(x, "x");
  check_grad(w, "weight");
  check_grad(b, "bias");
}

void check_frozen_batch_norm(const Shape& shape, bool affine) {
  Generator gen(67);
  const std::int64_t c = shape[1];
  const Leaf x = leaves(Tensor::normal(shape, 0.5f, 2.0f, gen));
  const Tensor w = affine ? Tensor::uniform(Shape{c}, 0.5f, 1.5f, gen) : Tensor();
  const Tensor b = affine ? Tensor::normal(Shape{c}, 0, 1, gen) : Tensor();
  const Tensor rm = Tensor::normal(Shape{c}, 0, 1, gen), rv = Tensor::uniform(Shape{c}, 0.5f, 2.0f, gen);
  INFO("frozen_batch_norm" << (affine ? "" : " without affine") << " of " << shape);
  const ChannelAffine ac = frozen_batch_norm_affine(w, b, rm, rv);
  const ChannelAffine ag = frozen_batch_norm_affine(on_gpu(w), on_gpu(b), rm.to(kGpu), rv.to(kGpu));
  CHECK(normalised_error(ag.scale, ac.scale) <= kForwardTolerance);
  CHECK(normalised_error(ag.shift, ac.shift) <= kForwardTolerance);
  const Tensor yc = frozen_batch_norm(x.cpu, w, b, rm, rv);
  const Tensor yg = frozen_batch_norm(x.gpu, on_gpu(w), on_gpu(b), rm.to(kGpu), rv.to(kGpu));
  CHECK(yg.device() == kGpu);
  CHECK(normalised_error(yg, yc) <= kForwardTolerance);
  const Tensor dy = Tensor::normal(shape, 0, 1, gen);
  yc.backward(dy);
  yg.backward(dy.to(kGpu));
  check_grad(x, "x");
}

const std::vector<Shape>& batch_norm_shapes() {
  static const std::vector<Shape> shapes = {
      Shape{2, 3, 5, 7},     // odd sizes
      Shape{3, 1, 9, 11},    // C = 1
      Shape{4, 5, 1, 1},     // H = W = 1
      Shape{1, 4, 13, 17},   // N = 1
      Shape{5, 7, 3},        // [N, C, L]
      Shape{6, 3},           // [N, C]
      Shape{2, 3, 67, 71},   // 9514 values per channel: several reduction chunks
      Shape{8, 16, 50, 60},  // 24000 values per channel, 384000 in all
  };
  return shapes;
}

}  // namespace

TEST_CASE("cuda batch norm, training: output, gradients of x, weight and bias, running buffers") {
  for (const Shape& s : batch_norm_shapes()) {
    check_batch_norm(s, BatchNormMode::Train, true);
    check_batch_norm(s, BatchNormMode::Train, false);
  }
}

TEST_CASE("cuda batch norm, evaluation: output and gradients with the running statistics") {
  for (const Shape& s : batch_norm_shapes()) {
    check_batch_norm(s, BatchNormMode::Eval, true);
    check_batch_norm(s, BatchNormMode::Eval, false);
  }
  check_batch_norm(Shape{0, 3, 4, 5}, BatchNormMode::Eval, true);  // no images: weight/bias gradients are 0
  check_batch_norm(Shape{2, 3, 0, 5}, BatchNormMode::Eval, true);  // empty planes
}

TEST_CASE("cuda frozen batch norm: output, input gradient, and the folded scale and shift") {
  for (const Shape& s :
       {Shape{2, 3, 5, 7}, Shape{3, 1, 9, 11}, Shape{4, 5, 1, 1}, Shape{2, 64, 33, 17}, Shape{0, 3, 2, 2}}) {
    check_frozen_batch_norm(s, true);
    check_frozen_batch_norm(s, false);
  }
}

TEST_CASE("cuda group norm: output and gradients of x, weight and bias for 1, 32 and C groups") {
  for (const int groups : {1, 32, 64}) check_group_norm(Shape{2, 64, 5, 7}, groups, true);
  check_group_norm(Shape{2, 64, 5, 7}, 32, false);
  check_group_norm(Shape{3, 6, 33, 65}, 3, true);   // 4290 values per group: two reduction chunks
  check_group_norm(Shape{3, 6, 33, 65}, 1, true);   // 12870 values per group
  check_group_norm(Shape{1, 32, 1, 1}, 32, true);   // one value per group: zero variance
  check_group_norm(Shape{1, 5, 9, 11}, 5, false);   // N = 1, odd C, one channel per group
  check_group_norm(Shape{4, 8, 9}, 2, true);        // [N, C, L]
  check_group_norm(Shape{0, 4, 3, 3}, 2, true);     // no images
  check_group_norm(Shape{2, 4, 0, 3}, 2, true);     // empty planes
}

TEST_CASE("cuda norms: the same bits on every run") {
  Generator gen(71);
  const Shape shape{4, 8, 61, 67};
  const Tensor x = Tensor::normal(shape, 0.5f, 2.0f, gen), dy = Tensor::normal(shape, 0, 1, gen);
  const Tensor w = Tensor::uniform(Shape{8}, 0.5f, 1.5f, gen), b = Tensor::normal(Shape{8}, 0, 1, gen);
  const auto values = [](const Tensor& t) { return t.to(Device::cpu()).to_vector<float>(); };
  const auto batch_norm_run = [&] {
    Tensor xg = x.to(kGpu), wg = w.to(kGpu), bg = b.to(kGpu);
    for (Tensor* t : {&xg, &wg, &bg}) t->set_requires_grad(true);
    Tensor rm = Tensor::zeros(Shape{8}, DType::F32, kGpu), rv = Tensor::ones(Shape{8}, DType::F32, kGpu);
    const Tensor y = batch_norm(xg, wg, bg, rm, rv, BatchNormMode::Train);
    y.backward(dy.to(kGpu));
    return std::vector<std::vector<float>>{values(y), values(xg.grad()), values(wg.grad()), values(bg.grad()),
                                           values(rm), values(rv)};
  };
  const auto group_norm_run = [&](int groups) {
    Tensor xg = x.to(kGpu), wg = w.to(kGpu), bg = b.to(kGpu);
    for (Tensor* t : {&xg, &wg, &bg}) t->set_requires_grad(true);
    const Tensor y = group_norm(xg, groups, wg, bg);
    y.backward(dy.to(kGpu));
    return std::vector<std::vector<float>>{values(y), values(xg.grad()), values(wg.grad()), values(bg.grad())};
  };
  const auto bn = batch_norm_run();
  const auto gn1 = group_norm_run(1), gn4 = group_norm_run(4);
  for (int run = 0; run < 3; ++run) {
    CHECK(batch_norm_run() == bn);
    CHECK(group_norm_run(1) == gn1);
    CHECK(group_norm_run(4) == gn4);
  }
}

TEST_CASE("cuda norms: clear errors for parameters on another device and a single value per channel") {
  const Tensor x = Tensor::ones(Shape{2, 3, 4, 4}).to(kGpu);
  Tensor rm = Tensor::zeros(Shape{3}, DType::F32, kGpu), rv = Tensor::ones(Shape{3}, DType::F32, kGpu);
  Tensor rm_cpu = Tensor::zeros(Shape{3}), rv_cpu = Tensor::ones(Shape{3});
  CHECK_THROWS_WITH_AS((void)batch_norm(x, Tensor::ones(Shape{3}), Tensor(), rm, rv, BatchNormMode::Train),
                       doctest::Contains("batch_norm: weight is on cpu, the input on cuda:0"), Error);
  CHECK_THROWS_WITH_AS((void)batch_norm(x, Tensor(), Tensor(), rm_cpu, rv_cpu, BatchNormMode::Eval),
                       doctest::Contains("batch_norm: running_mean is on cpu, the input on cuda:0"), Error);
  CHECK_THROWS_WITH_AS((void)group_norm(x, 3, Tensor(), Tensor::zeros(Shape{3})),
                       doctest::Contains("group_norm: bias is on cpu, the input on cuda:0"), Error);
  CHECK_THROWS_WITH_AS((void)frozen_batch_norm(x, Tensor(), Tensor(), rm, rv_cpu),
                       doctest::Contains("frozen_batch_norm: running_var is on cpu, the input on cuda:0"), Error);
  Tensor rm1 = Tensor::zeros(Shape{3}, DType::F32, kGpu), rv1 = Tensor::ones(Shape{3}, DType::F32, kGpu);
  CHECK_THROWS_WITH_AS((void)batch_norm(Tensor::ones(Shape{1, 3, 1, 1}).to(kGpu), Tensor(), Tensor(), rm1, rv1,
                                        BatchNormMode::Train),
                       doctest::Contains("more than one value per channel"), Error);
}
