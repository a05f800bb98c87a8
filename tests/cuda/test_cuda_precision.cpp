// bf16 and fp16 convolutions on CUDA (core/cuda/conv_cudnn.h under an AutocastScope) against the
// CPU's float32 kernels, and a tiny RetinaNet trained on the GPU in bf16 and in fp16 (with the
// dynamic loss scale fp16 gets by default) against the same run in float32 on the CPU.
// Also the activations kept for backward in 16 bits (core/saved_activation.h) against the CPU's.
// Run only where a GPU is present.
//
// Per-element bounds, as tests/core/test_conv_bf16.cpp derives them, with u the unit roundoff of
// the 16-bit type (bf16 2^-8, fp16 2^-11) and A = sum |a||b| over the K terms of an output element:
// the operands' rounding and the float32 sums give (2u + u^2 + 2 g_K (1 + u)^2) A, and cuDNN then
// rounds the result itself to 16 bits, which adds u times its magnitude (bounded by |y| + that).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu/conv_cpu.h"
#include "core/ops/conv.h"
#include "core/ops/elementwise.h"
#include "core/precision.h"
#include "core/random.h"
#include "core/runtime_info.h"
#include "core/saved_activation.h"
#include "engine/config.h"
#include "engine/trainer.h"
#include "apps/tiny_detector.h"

using namespace ghm;

namespace {

double sum_error(double k) { return k * 0x1p-24 / (1 - k * 0x1p-24); }

Tensor absolute(const Tensor& t) {
  Tensor r = t.clone();
  for (float& v : std::span(r.data<float>(), static_cast<std::size_t>(r.numel()))) v = std::abs(v);
  return r;
}

// max over elements of |got - want| / bound: at most 1 when every element is within its bound.
double worst_fraction(const Tensor& got, const Tensor& want, const Tensor& magnitude, double u, double k) {
  const double first = (2 * u + u * u + 2 * sum_error(k) * (1 + u) * (1 + u)) * (1 + 2 * sum_error(k));
  double worst = 0;
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    const double a = first * magnitude.data<float>()[i];
    const double bound = a + u * (std::abs(want.data<float>()[i]) + a);
    const double err = std::abs(static_cast<double>(got.data<float>()[i]) - want.data<float>()[i]);
    if (err > 0) worst = std::max(worst, bound > 0 ? err / bound : 1e30);
  }
  return worst;
}

}  // namespace

TEST_CASE("cuda precision: bf16 and fp16 convolutions, forward and both backward passes, within their bounds") {
  Generator gen(41);
  const Conv2dParams p = Conv2dParams::square(1, 1);
  const Tensor x0 = Tensor::normal(Shape{2, 32, 12, 11}, 0, 1, gen), w0 = Tensor::normal(Shape{48, 32, 3, 3}, 0, 0.2f, gen);
  const Tensor dy = Tensor::normal(Shape{2, 48, 12, 11}, 0, 1, gen);
  const cpu::ConvGeometry g{2, 32, 12, 11, 48, 3, 3, 12, 11, p};
  Tensor y32 = Tensor::empty(dy.shape()), dx32 = Tensor::empty(x0.shape()), dw32 = Tensor::empty(w0.shape());
  cpu::conv2d_forward(g, x0.data<float>(), w0.data<float>(), nullptr, y32.data<float>());
  cpu::conv2d_backward_data(g, dy.data<float>(), w0.data<float>(), dx32.data<float>());
  cpu::conv2d_backward_weight(g, x0.data<float>(), dy.data<float>(), dw32.data<float>());
  Tensor ay = Tensor::empty(dy.shape()), adx = Tensor::empty(x0.shape()), adw = Tensor::empty(w0.shape());
  const Tensor ax = absolute(x0), aw = absolute(w0), ady = absolute(dy);
  cpu::conv2d_forward(g, ax.data<float>(), aw.data<float>(), nullptr, ay.data<float>());
  cpu::conv2d_backward_data(g, ady.data<float>(), aw.data<float>(), adx.data<float>());
  cpu::conv2d_backward_weight(g, ax.data<float>(), ady.data<float>(), adw.data<float>());
  for (const Precision math : {Precision::BF16, Precision::F16}) {
    CAPTURE(precision_name(math));
    if (math == Precision::BF16 && query_cuda_runtime().gpus.at(0).cc_major < 8) {
      MESSAGE("bf16 not checked: cuda:0 has compute capability below 8.0");
      continue;
    }
    const double u = math == Precision::BF16 ? 0x1p-8 : 0x1p-11;
    Tensor x = x0.to(Device::cuda(0)), w = w0.to(Device::cuda(0));
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    Tensor y;
    {
      const AutocastScope scope(math);
      y = conv2d(x, w, Tensor(), p);
    }
    y.backward(dy.to(Device::cuda(0)));
    const double fy = worst_fraction(y.to(Device::cpu()), y32, ay, u, 32 * 9);
    const double fdx = worst_fraction(x.grad().to(Device::cpu()), dx32, adx, u, 48 * 9);
    const double fdw = worst_fraction(w.grad().to(Device::cpu()), dw32, adw, u, 2 * 12 * 11);
    CHECK(fy <= 1);
    CHECK(fdx <= 1);
    CHECK(fdw <= 1);
    MESSAGE(precision_name(math), ": worst element as a fraction of its bound: y ", fy, ", dx ", fdx, ", dW ", fdw);
  }
}

TEST_CASE("cuda precision: activations kept in 16 bits, bf16 bit for bit as the CPU's, fp16 within its rounding") {
  Generator gen(43);
  const Tensor x = mul_scalar(Tensor::normal(Shape{3, 7, 33}, 0, 1, gen), 1.f);  // an op's output
  const Tensor y = relu(x), dy = Tensor::normal(x.shape(), 0, 1, gen);
  const Tensor x_gpu = x.to(Device::cuda(0)), y_gpu = y.to(Device::cuda(0)), dy_gpu = dy.to(Device::cuda(0));
  std::vector<float> x_bf16;  // the CPU's bf16 values of x
  SavedActivation bf16_x;     // alive while x_gpu is kept in fp16 below: each precision its own copy
  if (query_cuda_runtime().gpus.at(0).cc_major >= 8) {
    const AutocastScope bf16(Precision::BF16);
    const SavedActivation cpu_x(x), cpu_y(y), gpu_y(y_gpu);
    bf16_x = SavedActivation(x_gpu);
    REQUIRE(bf16_x.packed());
    REQUIRE(gpu_y.packed());
    x_bf16 = cpu_x.get().to_vector<float>();
    CHECK(bf16_x.get().to(Device::cpu()).to_vector<float>() == x_bf16);
    CHECK(gpu_y.relu_backward_packed(dy_gpu).to(Device::cpu()).to_vector<float>() ==
          cpu_y.relu_backward_packed(dy).to_vector<float>());
  }
  const AutocastScope fp16(Precision::F16);
  const SavedActivation gpu_x(x_gpu), gpu_y(y_gpu);
  REQUIRE(gpu_x.packed());
  CHECK_FALSE(SavedActivation(x).packed());  // the CPU has no fp16 convolutions: kept as is
  const std::vector<float> want = x.to_vector<float>(), got = gpu_x.get().to(Device::cpu()).to_vector<float>();
  for (std::size_t i = 0; i < want.size(); ++i)  // nearest fp16: 2^-11 relative, 2^-25 below 2^-14
    CHECK(std::abs(got[i] - want[i]) <= std::max(0x1p-11 * std::abs(want[i]), 0x1p-25));
  // ReLU's backward from the fp16 copy: the float32 mask (no output here is in (0, 2^-25)).
  const std::vector<float> mask = gpu_y.relu_backward_packed(dy_gpu).to(Device::cpu()).to_vector<float>();
  const std::vector<float> yv = y.to_vector<float>(), dyv = dy.to_vector<float>();
  for (std::size_t i = 0; i < yv.size(); ++i) CHECK(mask[i] == (yv[i] > 0.f ? dyv[i] : 0.f));
  if (bf16_x.defined()) CHECK(bf16_x.get().to(Device::cpu()).to_vector<float>() == x_bf16);  // still bf16
}

TEST_CASE("cuda precision: a tiny RetinaNet trained in bf16 and fp16 on the GPU tracks float32 on the CPU") {
  const testing::TinyDetector d("cuda_precision",
                                "  threads: 2\n  batch_size: 4\n  epochs: 2\n  lr: 0.01\n  warmup_iters: 4\n"
                                "  warmup_ratio: 0.1\n  steps: [2]\n  log_interval: 1\n");
  const std::vector<std::string> focal{"loss.cls.type=focal", "loss.reg.type=sl1", "loss.reg.loss_weight=1"};
  const auto run = [&](const std::string& name, std::vector<std::string> extra) {
    extra.insert(extra.end(), focal.begin(), focal.end());
    engine::train_detector(d.load(extra), d.options(name));
    return testing::read_log(std::filesystem::path(d.options(name).work_dir) / "log.jsonl");
  };
  const std::vector<io::Json> cpu = run("cpu", {});
  for (const std::string precision : {"bf16", "fp16"}) {
    CAPTURE(precision);
    if (precision == "bf16" && query_cuda_runtime().gpus.at(0).cc_major < 8) continue;  // bf16 needs 8.0
    const std::vector<io::Json> gpu = run(precision, {"train.device=cuda", "train.precision=" + precision});
    REQUIRE(gpu.size() == cpu.size());
    for (std::size_t i = 0; i < 2; ++i) {
      CAPTURE(i);
      const double a = cpu[i].at("loss").as_double(), b = gpu[i].at("loss").as_double();
      CHECK(std::abs(a - b) <= 0.02 * a);
    }
    CHECK(gpu[0].at("loss").as_double() != cpu[0].at("loss").as_double());  // 16 bits really ran
    // fp16: the dynamic scale, 65536 halved once per skipped step (steps are too few to double it).
    int skipped = 0;
    for (const io::Json& line : gpu) skipped += static_cast<int>(line.at("skipped_steps").as_int());
    CHECK(gpu.back().at("loss_scale").as_double() == (precision == "fp16" ? std::ldexp(65536.0, -skipped) : 1.0));
  }
}
