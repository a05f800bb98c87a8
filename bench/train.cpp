// `ghm_retinanet bench train`: the time of one RetinaNet training step (forward, targets, loss,
// backward, gradient clipping, SGD) or one inference (forward + post-processing) on a synthetic
// batch, the peak memory of the process, and with --profile the time of every op.
//
// The batch is the same as bench/torch_detection.py's, so that the two can be compared: images
// ~ N(0, 1) (already normalised), G boxes per image from a low-discrepancy sequence (t = n*G + j + 1,
// frac(t*c) with four irrational constants: centre, size 16..128 px, aspect 0.5..2), label t*7 mod K.
// The model comes from a config (default: configs/retinanet_r50_fpn_torchvision.yaml, the layout of
// torchvision's retinanet_resnet50_fpn) with random initial weights.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "engine/config.h"
#include "engine/checkpoint.h"
#include "engine/detection_data.h"
#include "engine/inference.h"
#include "core/autograd.h"
#include "core/cpu/large_block_cache.h"
#include "core/profile.h"
#include "core/random.h"
#include "core/runtime_info.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_memory.h"
#endif
#include "detection/retinanet/loss.h"
#include "detection/targets.h"
#include "io/safetensors.h"
#include "nn/optim.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine
namespace {

const char* kUsage =
    "usage: ghm_retinanet bench train [--config CFG.yaml] [--set key=value]... [--depth 18|34|50|101]\n"
    "                                 [--mode train|infer] [--batch N] [--size HxW] [--boxes G]\n"
    "                                 [--threads T] [--warmup W] [--repeats R] [--profile] [--json OUT]\n"
    "                                 [--weights W.safetensors] [--input X.safetensors] [--device cpu|cuda[:I]]\n"
    "  Times a training step (or an inference) of RetinaNet on a synthetic batch: median over\n"
    "  R repeats after W warm-up runs. Defaults: the torchvision-layout R50 config, train, 2 x 512x512,\n"
    "  8 boxes per image, 2 threads, 1 warm-up, 3 repeats. --profile adds the time of every op.\n"
    "  --weights / --input: the model's weights and the batch ('image' [N, 3, H, W]) instead of\n"
    "  random ones, e.g. those bench/torch_detection.py --export writes (the same network on both sides).\n"
    "  --device cuda: the model, batch and losses on the GPU (targets are assigned on the CPU and\n"
    "  copied, post-processing runs on the CPU); each timed run ends with a device synchronisation,\n"
    "  and the peak of the device allocator is reported next to the process's.\n";

std::string default_config_path() {
  const std::string rel = "configs/retinanet_r50_fpn_torchvision.yaml";
  if (std::filesystem::exists(rel)) return rel;
  return std::string(GHM_SOURCE_DIR) + "/" + rel;
}

double frac(double x) { return x - std::floor(x); }

// The boxes of image n (see the file comment; bench/torch_detection.py has the same formula).
detection::ImageGroundTruth synthetic_boxes(int n, int g, std::int64_t k, std::int64_t h, std::int64_t w) {
  detection::ImageGroundTruth gt;
  gt.boxes = Tensor::empty(Shape{g, 4});
  gt.labels = Tensor::empty(Shape{g}, DType::I64);
  gt.size = {h, w};
  for (int j = 0; j < g; ++j) {
    const double t = static_cast<double>(n * g + j + 1);
    const double cx = static_cast<double>(w) * frac(t * 0.6180339887498949);
    const double cy = static_cast<double>(h) * frac(t * 0.7548776662466927);
    const double side = 16.0 * std::exp2(3.0 * frac(t * 0.5698402909980532));
    const double aspect = std::exp2(2.0 * frac(t * 0.3247179572447460) - 1.0);
    const double bw = side / std::sqrt(aspect), bh = side * std::sqrt(aspect);
    float* b = gt.boxes.data<float>() + 4 * j;
    b[0] = static_cast<float>(std::clamp(cx - bw / 2, 0.0, static_cast<double>(w)));
    b[1] = static_cast<float>(std::clamp(cy - bh / 2, 0.0, static_cast<double>(h)));
    b[2] = static_cast<float>(std::clamp(cx + bw / 2, 0.0, static_cast<double>(w)));
    b[3] = static_cast<float>(std::clamp(cy + bh / 2, 0.0, static_cast<double>(h)));
    gt.labels.data<std::int64_t>()[j] = (static_cast<std::int64_t>(t) * 7) % k;
  }
  return gt;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // ru_maxrss is in KiB on Linux
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

struct Options {
  std::string config = default_config_path();
  std::vector<std::string> overrides;
  int depth = 0;  // 0: the config's
  std::string mode = "train";
  int batch = 2;
  std::int64_t height = 512, width = 512;
  int boxes = 8;
  int threads = 2, warmup = 1, repeats = 3;
  bool profile = false;
  std::string json_path;
  std::string weights, input;
  std::string device = "cpu";
  bool help = false;
};

// One "--option value" pair; std::stoi throws std::logic_error on a non-number.
void parse_option(Options& o, const std::string& a, const std::string& v) {
  if (a == "--config") o.config = v;
  else if (a == "--set") o.overrides.push_back(v);
  else if (a == "--depth") o.depth = std::stoi(v);
  else if (a == "--mode") o.mode = v;
  else if (a == "--batch") o.batch = std::stoi(v);
  else if (a == "--boxes") o.boxes = std::stoi(v);
  else if (a == "--threads") o.threads = std::stoi(v);
  else if (a == "--warmup") o.warmup = std::stoi(v);
  else if (a == "--repeats") o.repeats = std::stoi(v);
  else if (a == "--json") o.json_path = v;
  else if (a == "--weights") o.weights = v;
  else if (a == "--input") o.input = v;
  else if (a == "--device") o.device = v;
  else if (a == "--size") {
    const std::size_t x = v.find('x');
    if (x == std::string::npos) throw UsageError("bench train: --size must be HxW (e.g. 512x512), got '" + v + "'");
    o.height = std::stoll(v.substr(0, x));
    o.width = std::stoll(v.substr(x + 1));
  } else {
    throw UsageError("bench train: unknown option '" + a + "'");
  }
}

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help") {
      o.help = true;
      return o;
    }
    if (a == "--profile") {
      o.profile = true;
      continue;
    }
    if (i + 1 >= args.size()) throw UsageError("bench train: option '" + a + "' needs a value (or is unknown)");
    const std::string& v = args[++i];
    try {
      parse_option(o, a, v);
    } catch (const std::logic_error&) {  // std::stoi's invalid_argument / out_of_range
      throw UsageError("bench train: option '" + a + "' needs a number, got '" + v + "'");
    }
  }
  if (o.mode != "train" && o.mode != "infer")
    throw UsageError("bench train: --mode must be train or infer, got '" + o.mode + "'");
  if (o.batch < 1 || o.threads < 1 || o.repeats < 1 || o.warmup < 0 || o.boxes < 0 || o.height < 32 ||
      o.width < 32)
    throw UsageError("bench train: --batch, --threads, --repeats must be >= 1, --size >= 32x32, --boxes >= 0");
  if (o.depth != 0) o.overrides.push_back("model.backbone.depth=" + std::to_string(o.depth));
  return o;
}

}  // namespace

int bench_train(const std::vector<std::string>& args) {
  const Options o = parse(args);
  if (o.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  struct RestoreThreads {  // the caller's OpenMP thread count comes back however we leave
    int threads = omp_get_max_threads();
    ~RestoreThreads() { omp_set_num_threads(threads); }
  } restore_threads;
  omp_set_num_threads(o.threads);
  const io::Json config = load_config(o.config, o.overrides);
  const detection::RetinaNetConfig model_cfg = retinanet_config(config);
  const DataConfig data = data_config(config);
  const TrainConfig train = train_config(config);
  const TestConfig test = test_config(config);
  const detection::DetectionLossConfig loss_cfg = loss_config(config);
  const detection::AnchorGenerator anchors(anchor_config(config));
  const detection::TargetConfig target_cfg = target_config(data, train);

  Generator gen(0);
  detection::RetinaNet model(model_cfg, gen);
  if (!o.weights.empty()) {
    const nn::LoadReport r = load_model_weights(o.weights, model, nn::Strict::No);
    GHM_CHECK(r.mismatched.empty() && r.missing.empty(), o.weights, ": does not hold exactly this model's weights (",
              r.mismatched.empty() ? r.missing.front() : r.mismatched.front(), ")");
  }
  Tensor images = Tensor::normal(Shape{o.batch, 3, o.height, o.width}, 0.0f, 1.0f, gen);
  if (!o.input.empty()) {
    images = io::load_safetensors(o.input).at("image");
    GHM_CHECK(images.shape() == Shape({o.batch, 3, o.height, o.width}), o.input, ": 'image' has shape ",
              images.shape(), ", expected [", o.batch, ", 3, ", o.height, ", ", o.width, "] (--batch, --size)");
  }
  std::vector<detection::ImageGroundTruth> gt;
  for (int n = 0; n < o.batch; ++n) gt.push_back(synthetic_boxes(n, o.boxes, model_cfg.num_classes, o.height, o.width));

  const Device device = parse_device(o.device, "bench train");
  model.to(device);
  images = images.to(device);
  const bool training = o.mode == "train";
  nn::SgdConfig sgd_cfg = train.sgd;
  sgd_cfg.lr = 1e-4f;  // small: the same batch is used for every step
  nn::Sgd sgd(model.named_parameters(), sgd_cfg);
  const std::vector<Tensor> params = model.parameters();
  detection::DetectionLossState loss_state(loss_cfg);
  io::Batch batch;
  batch.images = images;
  for (int n = 0; n < o.batch; ++n) {
    io::Sample s;
    s.orig_height = static_cast<int>(o.height);
    s.orig_width = static_cast<int>(o.width);
    batch.samples.push_back(s);
  }
  if (training) model.train();
  else model.eval();
  if (!training) cpu::enable_host_cache_for_inference();  // as eval and detect do

  double loss_value = 0;
  std::size_t detections = 0;
  auto run_once = [&]() {
    if (!training) {
      const std::vector<detection::ImageDetections> d = detect_batch(model, anchors, batch, test.post);
      detections = 0;
      for (const auto& x : d) detections += static_cast<std::size_t>(x.scores.numel());
      profile::mark("postprocess");
      return;
    }
    const detection::RetinaNetOutput out = model.forward(images);
    std::vector<detection::FeatureSize> sizes;
    for (const Tensor& c : out.cls_logits) sizes.push_back({c.size(2), c.size(3)});
    detection::BatchTargets targets;
    {
      profile::Region region("targets (anchors + assignment)");
      targets = detection::to_device(detection::batch_targets(anchors, sizes, gt, model_cfg.num_classes, target_cfg),
                                     device);
    }
    const detection::DetectionLoss loss =
        detection::detection_loss(detection::head_rows(out.cls_logits, model_cfg.num_classes),
                                  detection::head_rows(out.box_deltas, 4), targets, loss_cfg, loss_state);
    loss_value = loss.total.item();
    sgd.zero_grad();
    loss.total.backward();
    {
      profile::Region region("clip_grad_norm");
      nn::clip_grad_norm(params, train.clip_grad > 0 ? train.clip_grad : 1e30);
    }
    profile::Region region("sgd step");
    sgd.step(sgd_cfg.lr);
  };

  for (int i = 0; i < o.warmup; ++i) run_once();
  synchronize(device);
#if GHM_WITH_CUDA
  if (device.is_cuda()) cuda::device_allocator(device.index).reset_peak();
#endif
  std::vector<double> ms;
  std::map<std::string, profile::Entry> totals;
  for (int i = 0; i < o.repeats; ++i) {
    if (o.profile) profile::start();
    const auto t0 = std::chrono::steady_clock::now();
    run_once();
    synchronize(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (o.profile) {
      profile::mark("(untracked)");
      for (const profile::Entry& e : profile::stop()) {
        profile::Entry& t = totals[e.name];
        t.name = e.name;
        t.seconds += e.seconds;
        t.calls += e.calls;
      }
    }
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t mid = sorted.size() / 2;
  const double median = sorted.size() % 2 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
  const double peak = peak_rss_mib();
  double device_peak = 0;  // MiB held by live tensors at the worst moment of the timed runs
#if GHM_WITH_CUDA
  if (device.is_cuda())
    device_peak = static_cast<double>(cuda::device_allocator(device.index).stats().peak_allocated_bytes) / 1048576.0;
#endif

  std::printf("bench train: %s, ResNet-%d FPN, %d classes, %d x %lldx%lld, %d thread%s, %s\n", o.mode.c_str(),
              model_cfg.backbone.depth, static_cast<int>(model_cfg.num_classes), o.batch,
              static_cast<long long>(o.height), static_cast<long long>(o.width), o.threads, o.threads == 1 ? "" : "s",
              device.to_string().c_str());
  std::printf("median_ms     %.1f\n", median);
  std::printf("min_ms        %.1f\n", sorted.front());
  std::printf("peak_rss_mib  %.1f\n", peak);
  if (device.is_cuda()) std::printf("peak_device_mib %.1f\n", device_peak);
  if (training) std::printf("loss          %.5f\n", loss_value);
  else std::printf("detections    %zu\n", detections);

  std::vector<profile::Entry> rows;
  double profiled = 0;
  for (auto& [name, e] : totals) {
    rows.push_back(e);
    profiled += e.seconds;
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  if (o.profile) {
    std::printf("\nprofile (mean over %d runs): op, ms per run, share, calls per run\n", o.repeats);
    double forward = 0, backward = 0;
    for (const profile::Entry& e : rows) {
      const double per = 1e3 * e.seconds / o.repeats;
      std::printf("  %-36s %9.2f  %5.1f%%  %6.1f\n", e.name.c_str(), per, 100.0 * e.seconds / profiled,
                  static_cast<double>(e.calls) / o.repeats);
      const bool is_backward = e.name.rfind("backward:", 0) == 0 ||
                               (e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, " backward") == 0);
      if (is_backward) backward += per;
      else forward += per;
    }
    std::printf("  %-36s %9.2f\n  %-36s %9.2f\n", "(sum: backward)", backward, "(sum: everything else)", forward);
  }

  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    GHM_CHECK(out.good(), "bench train: cannot write '", o.json_path, "'");
    out << "{\"mode\": \"" << o.mode << "\", \"depth\": " << model_cfg.backbone.depth << ", \"batch\": " << o.batch
        << ", \"height\": " << o.height << ", \"width\": " << o.width << ", \"threads\": " << o.threads
        << ", \"device\": \"" << device.to_string() << "\", \"peak_device_mib\": " << device_peak
        << ", \"median_ms\": " << median << ", \"runs_ms\": [";
    for (std::size_t i = 0; i < ms.size(); ++i) out << (i ? ", " : "") << ms[i];
    out << "], \"peak_rss_mib\": " << peak << ", \"profile\": [";
    for (std::size_t i = 0; i < rows.size(); ++i)
      out << (i ? ", " : "") << "{\"name\": \"" << rows[i].name << "\", \"ms\": " << 1e3 * rows[i].seconds / o.repeats
          << ", \"calls\": " << static_cast<double>(rows[i].calls) / o.repeats << "}";
    out << "]}\n";
    GHM_CHECK(out.good(), "bench train: cannot write '", o.json_path, "'");
  }
  return 0;
}

}  // namespace ghm::app
