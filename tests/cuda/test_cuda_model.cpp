// The whole training step on CUDA against the CPU: a small RetinaNet (ResNet-18 at 1/8 width with
// trainable batch norm, FPN, GroupNorm head) built twice from the same seed, one copy moved to the
// GPU; the same batch through forward, GHM-C + GHM-R (and focal + smooth L1) losses, backward,
// gradient clipping and an SGD step. Outputs, losses, every gradient, the gradient norm and the
// updated parameters must agree (TF32 off). The device allocator serves repeated steps from its
// cache and ends with what it started with. Then the `bench train --device cuda` and `loss --device
// cuda` commands run (the latter on every loss fixture, against the CPU).
// A pretraining step of the ResNet classifier (softmax cross-entropy, SGD) agrees the same way.
// Run only where a GPU is present.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "compare.h"
#include "core/cuda/device_memory.h"
#include "core/cuda/math_mode.h"
#include "core/random.h"
#include "detection/retinanet/loss.h"
#include "detection/retinanet/model.h"
#include "detection/targets.h"
#include "io/safetensors.h"
#include "losses/softmax_ce.h"
#include "nn/classifier.h"
#include "nn/optim.h"
#include "test_paths.h"

using namespace ghm;
using ghm::testing::normalised_error;

namespace {

const Device kGpu = Device::cuda(0);

detection::RetinaNetConfig small_model() {
  detection::RetinaNetConfig c;
  c.backbone = {18, 1, 64, nn::NormKind::BatchNorm, 0, 8};  // base_width 8: 1/8 of the usual width
  c.num_classes = 5;
  c.width = 16;
  c.head_convs = 1;
  c.head_group_norm = 4;
  return c;
}

std::vector<detection::ImageGroundTruth> boxes_for(std::int64_t h, std::int64_t w) {
  std::vector<detection::ImageGroundTruth> gt(2);
  gt[0].boxes = Tensor::from_vector<float>({10, 12, 60, 70, 30, 5, 90, 40}, {2, 4});
  gt[0].labels = Tensor::from_vector<std::int64_t>({1, 3}, {2});
  gt[1].boxes = Tensor::from_vector<float>({40, 30, 120, 90}, {1, 4});
  gt[1].labels = Tensor::from_vector<std::int64_t>({4}, {1});
  for (auto& g : gt) g.size = {h, w};
  return gt;
}

struct Step {
  std::vector<Tensor> cls, box;
  float loss_cls = 0, loss_reg = 0;
  std::vector<std::pair<std::string, Tensor>> grads, params_after;
  double grad_norm = 0;
};

Step run_step(detection::RetinaNet& model, const Tensor& images, const detection::DetectionLossConfig& loss_cfg,
              Device device) {
  Step s;
  model.train();
  nn::Sgd sgd(model.named_parameters(), nn::SgdConfig{0.01f, 0.9f, 1e-4f, true});
  detection::DetectionLossState state(loss_cfg);
  const detection::AnchorGenerator anchors(detection::AnchorConfig{});
  const detection::RetinaNetOutput out = model.forward(images.to(device));
  std::vector<detection::FeatureSize> sizes;
  for (const Tensor& c : out.cls_logits) sizes.push_back({c.size(2), c.size(3)});
  const detection::BatchTargets targets = detection::to_device(
      detection::batch_targets(anchors, sizes, boxes_for(images.size(2), images.size(3)), 5), device);
  const detection::DetectionLoss loss = detection::detection_loss(
      detection::head_rows(out.cls_logits, 5), detection::head_rows(out.box_deltas, 4), targets, loss_cfg, state);
  for (const Tensor& t : out.cls_logits) s.cls.push_back(t.detach());
  for (const Tensor& t : out.box_deltas) s.box.push_back(t.detach());
  s.loss_cls = loss.cls.item();
  s.loss_reg = loss.reg.item();
  sgd.zero_grad();
  loss.total.backward();
  for (const auto& [n, p] : model.named_parameters())
    if (p.grad().defined()) s.grads.emplace_back(n, p.grad().detach().clone());
  s.grad_norm = nn::clip_grad_norm(model.parameters(), 1.0);
  sgd.step(0.01f);
  for (const auto& [n, p] : model.named_parameters()) s.params_after.emplace_back(n, p.detach().clone());
  return s;
}

void check_step_agrees(const detection::DetectionLossConfig& loss_cfg) {
  const cuda::Tf32Scope full_float(false);
  Generator gen_cpu(7), gen_gpu(7);
  detection::RetinaNet cpu_model(small_model(), gen_cpu), gpu_model(small_model(), gen_gpu);
  gpu_model.to(kGpu);
  CHECK(gpu_model.device() == kGpu);
  Generator data(11);
  const Tensor images = Tensor::normal(Shape{2, 3, 128, 160}, 0, 1, data);

  const Step c = run_step(cpu_model, images, loss_cfg, Device::cpu());
  const Step g = run_step(gpu_model, images, loss_cfg, kGpu);
  for (std::size_t l = 0; l < c.cls.size(); ++l) {
    CAPTURE(l);
    CHECK(normalised_error(g.cls[l], c.cls[l]) < 1e-4);
    CHECK(normalised_error(g.box[l], c.box[l]) < 1e-4);
  }
  CHECK(g.loss_cls == doctest::Approx(c.loss_cls).epsilon(1e-4));
  CHECK(g.loss_reg == doctest::Approx(c.loss_reg).epsilon(1e-4));
  REQUIRE(g.grads.size() == c.grads.size());
  for (std::size_t k = 0; k < c.grads.size(); ++k) {
    CAPTURE(c.grads[k].first);
    CHECK(g.grads[k].first == c.grads[k].first);
    CHECK(normalised_error(g.grads[k].second, c.grads[k].second) < 1e-3);
  }
  CHECK(g.grad_norm == doctest::Approx(c.grad_norm).epsilon(1e-3));
  for (std::size_t k = 0; k < c.params_after.size(); ++k) {
    CAPTURE(c.params_after[k].first);
    CHECK(normalised_error(g.params_after[k].second, c.params_after[k].second) < 1e-4);
  }
  // The buffers (batch-norm running statistics) were updated on the device as on the CPU.
  const auto cb = cpu_model.named_buffers(), gb = gpu_model.named_buffers();
  REQUIRE(cb.size() == gb.size());
  for (std::size_t k = 0; k < cb.size(); ++k) {
    CAPTURE(cb[k].first);
    if (cb[k].second.dtype() == DType::F32) CHECK(normalised_error(gb[k].second, cb[k].second) < 1e-4);
  }
}

}  // namespace

TEST_CASE("cuda model: a GHM-C + GHM-R training step equals the CPU's") {
  detection::DetectionLossConfig cfg;
  cfg.cls.kind = detection::ClsLossKind::GhmC;
  cfg.reg.kind = detection::RegLossKind::GhmR;
  check_step_agrees(cfg);
}

TEST_CASE("cuda model: a focal + smooth L1 training step equals the CPU's") {
  detection::DetectionLossConfig cfg;
  cfg.cls.kind = detection::ClsLossKind::Focal;
  cfg.reg.kind = detection::RegLossKind::SmoothL1;
  check_step_agrees(cfg);
}

TEST_CASE("cuda model: training steps reuse cached device blocks and leave no allocation behind") {
  cuda::CachingAllocator& allocator = cuda::device_allocator(0);
  const cuda::AllocatorStats before = allocator.stats();
  {
    Generator gen(5);
    detection::RetinaNet model(small_model(), gen);
    model.to(kGpu);
    detection::DetectionLossConfig cfg;
    Generator data(6);
    const Tensor images = Tensor::normal(Shape{2, 3, 96, 128}, 0, 1, data);
    for (int step = 0; step < 3; ++step) run_step(model, images, cfg, kGpu);
    const cuda::AllocatorStats during = allocator.stats();
    CHECK(during.peak_allocated_bytes > before.allocated_bytes);
    // Steps 2 and 3 ask for the sizes step 1 freed: most requests come from the cache.
    CHECK(during.cache_hits - before.cache_hits > (during.allocations - before.allocations) / 2);
  }
  const cuda::AllocatorStats after = allocator.stats();
  CHECK(after.live_blocks == before.live_blocks);
  CHECK(after.allocated_bytes == before.allocated_bytes);
}

TEST_CASE("cuda model: moving a model keeps its values and the layers see the move") {
  Generator a(3), b(3);
  detection::RetinaNet m1(small_model(), a), m2(small_model(), b);
  m2.to(kGpu);
  const auto p1 = m1.state(), p2 = m2.state();
  REQUIRE(p1.size() == p2.size());
  for (std::size_t k = 0; k < p1.size(); ++k) {
    CAPTURE(p1[k].first);
    CHECK(p2[k].second.device() == kGpu);
    CHECK(p2[k].second.to(Device::cpu()).to_vector<float>() == p1[k].second.to_vector<float>());
  }
  m2.to(Device::cpu());
  CHECK(m2.device() == Device::cpu());
  // Loading a CPU state into a CUDA model copies across devices.
  m1.to(kGpu);
  m1.load_state(m2.state());
  CHECK(m1.device() == kGpu);
}

TEST_CASE("cuda model: bench train runs a training step and an inference on the GPU") {
  for (const char* mode : {"train", "infer"}) {
    CAPTURE(mode);
    CHECK(app::run_bench({"train", "--depth", "18", "--mode", mode, "--batch", "1", "--size", "128x160", "--warmup",
                          "1", "--repeats", "1", "--device", "cuda"}) == 0);
  }
}

TEST_CASE("cuda model: the loss command on the GPU equals the CPU on every loss fixture") {
  const auto tmp = std::filesystem::temp_directory_path() / ("ghm_cuda_loss_cmd_" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  std::vector<std::string> cases;
  for (const auto& e : std::filesystem::directory_iterator(::ghm::testing::test_data_dir())) {
    const std::string name = e.path().filename().string(), suffix = ".in.safetensors";
    if (name.starts_with("losses_") && name.ends_with(suffix)) cases.push_back(name.substr(0, name.size() - suffix.size()));
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 10);
  for (const std::string& c : cases) {
    CAPTURE(c);
    const std::string in = ::ghm::testing::test_data_dir() + "/" + c + ".in.safetensors";
    std::vector<std::string> args;
    std::istringstream options(io::load_safetensors(in).metadata.at("options"));
    for (std::string w; options >> w;) args.push_back(w);
    if (std::find(args.begin(), args.end(), "ghmc-exact") != args.end()) continue;  // CPU only
    const std::string cpu_out = (tmp / (c + ".cpu.safetensors")).string(), gpu_out = (tmp / (c + ".gpu.safetensors")).string();
    std::vector<std::string> cpu_args = args, gpu_args = args;
    cpu_args.insert(cpu_args.end(), {"--in", in, "--out", cpu_out});
    gpu_args.insert(gpu_args.end(), {"--in", in, "--out", gpu_out, "--device", "cuda"});
    REQUIRE(app::run_loss(cpu_args) == 0);
    REQUIRE(app::run_loss(gpu_args) == 0);
    const io::SafetensorsData a = io::load_safetensors(cpu_out), b = io::load_safetensors(gpu_out);
    for (const auto& [name, t] : a.tensors) {
      CAPTURE(name);
      REQUIRE(b.contains(name));
      const Tensor& u = b.at(name);
      REQUIRE(u.shape() == t.shape());
      if (t.dtype() == DType::I64) {
        CHECK(u.to_vector<std::int64_t>() == t.to_vector<std::int64_t>());  // bin counts: exactly the CPU's
      } else {
        CHECK(normalised_error(u.to(kGpu), t) < 1e-5);
      }
    }
  }
  std::filesystem::remove_all(tmp);
}

TEST_CASE("cuda model: a pretraining step of the classifier equals the CPU's") {
  const cuda::Tf32Scope full_float(false);
  nn::ResNetConfig body = small_model().backbone;
  Generator gen_cpu(5), gen_gpu(5);
  nn::ResNetClassifier cpu_model(body, 28, gen_cpu), gpu_model(body, 28, gen_gpu);
  gpu_model.to(kGpu);
  Generator data(6);
  const Tensor images = Tensor::normal(Shape{4, 3, 64, 64}, 0, 1, data);
  const Tensor labels = Tensor::from_vector<std::int64_t>({3, 27, 0, 14}, Shape{4});
  struct Result {
    Tensor logits;
    float loss = 0;
    std::vector<Tensor> grads, params_after, buffers;
  };
  const auto step = [&](nn::ResNetClassifier& model, Device device) {
    Result r;
    nn::Sgd sgd(model.named_parameters(), nn::SgdConfig{0.05f, 0.9f, 1e-4f, true});
    r.logits = model.forward(images.to(device)).detach();
    Tensor loss = losses::softmax_cross_entropy_loss(model.forward(images.to(device)), labels.to(device), 4.0);
    sgd.zero_grad();
    loss.backward();
    r.loss = loss.detach().to(Device::cpu()).item();
    for (const auto& [n, p] : model.named_parameters()) r.grads.push_back(p.grad().detach().clone());
    sgd.step(0.05f);
    for (const auto& [n, p] : model.named_parameters()) r.params_after.push_back(p.detach().clone());
    for (const auto& [n, b] : model.named_buffers())
      if (b.dtype() == DType::F32) r.buffers.push_back(b.detach().clone());
    return r;
  };
  const Result c = step(cpu_model, Device::cpu()), g = step(gpu_model, kGpu);
  CHECK(normalised_error(g.logits, c.logits) < 1e-4);
  CHECK(g.loss == doctest::Approx(c.loss).epsilon(1e-4));
  const auto names = cpu_model.named_parameters();
  REQUIRE(g.grads.size() == c.grads.size());
  for (std::size_t k = 0; k < c.grads.size(); ++k) {
    CAPTURE(names[k].first);
    // Relative to the gradient's own scale: a wrong backward is off by O(1) of it.
    const Tensor gc = c.grads[k], gg = g.grads[k].to(Device::cpu());
    double scale = 0, diff = 0;
    for (std::int64_t i = 0; i < gc.numel(); ++i) {
      scale = std::max(scale, static_cast<double>(std::abs(gc.data<float>()[i])));
      diff = std::max(diff, static_cast<double>(std::abs(gc.data<float>()[i] - gg.data<float>()[i])));
    }
    CHECK(diff <= 1e-3 * scale + 1e-7);
    CHECK(normalised_error(g.params_after[k], c.params_after[k]) < 1e-4);
  }
  REQUIRE(g.buffers.size() == c.buffers.size());  // batch-norm running statistics after the step
  for (std::size_t k = 0; k < c.buffers.size(); ++k) CHECK(normalised_error(g.buffers[k], c.buffers[k]) < 1e-4);
}
