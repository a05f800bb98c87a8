// `ghm_retinanet bench train`: the time of one training step (forward, targets, loss, backward,
// gradient clipping, SGD) or one inference (forward + post-processing) of the config's detector
// (model.type: RetinaNet, or Faster R-CNN against bench/torch_faster_rcnn.py) on a synthetic batch,
// the peak memory of the process, and with --profile the time of every op.
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
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "engine/config.h"
#include "engine/checkpoint.h"
#include "engine/detection_data.h"
#include "engine/inference.h"
#include "core/autograd.h"
#include "core/cpu/large_block_cache.h"
#include "core/profile.h"
#include "core/random.h"
#include "core/runtime_info.h"
#include "core/source_tree.h"
#include "core/storage.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_memory.h"
#endif
#include "detection/retinanet/loss.h"
#include "detection/targets.h"
#include "io/output_file.h"
#include "io/safetensors.h"
#include "nn/grad_scaler.h"
#include "nn/optim.h"

namespace ghm::bench {
using namespace ghm::engine;  // the trainer's model, targets, loss and optimiser
namespace {

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

// Random initial weights, or those of `path` when given (every parameter and buffer of the model).
void load_weights(const std::string& path, nn::Module& model) {
  if (path.empty()) return;
  const nn::LoadReport r = load_model_weights(path, model, nn::Strict::No);
  GHM_CHECK(r.mismatched.empty() && r.missing.empty(), path, ": does not hold exactly this model's weights (",
            r.mismatched.empty() ? r.missing.front() : r.mismatched.front(), ")");
}

// The batch [batch, 3, H, W]: ~ N(0, 1), or the 'image' tensor of o.input.
Tensor input_images(const TrainBenchOptions& o, Generator& gen) {
  const Shape shape{o.batch, 3, o.size.height, o.size.width};
  if (o.input.empty()) return Tensor::normal(shape, 0.0f, 1.0f, gen);
  Tensor images = io::load_safetensors(o.input).at("image");
  GHM_CHECK(images.shape() == shape, o.input, ": 'image' has shape ", images.shape(), ", expected ", shape,
            " (--batch, --size)");
  return images;
}

// The images as an inference batch: each image's original size is its input size.
io::Batch inference_batch(const Tensor& images, const ImageSize& size) {
  io::Batch batch;
  batch.images = images;
  for (std::int64_t n = 0; n < images.size(0); ++n) {
    io::Sample s;
    s.orig_height = static_cast<int>(size.height);
    s.orig_width = static_cast<int>(size.width);
    batch.samples.push_back(s);
  }
  return batch;
}

// What the timed runs measured.
struct Measured {
  std::vector<double> runs_ms;          // in run order
  double median_ms = 0, min_ms = 0;
  double peak_rss_mib = 0;              // the process's high-water mark
  double peak_host_tensor_mib = 0;      // held by live host tensors at the worst moment of the timed runs
  double peak_device_mib = 0;           // held by live tensors at the worst moment of the timed runs (CUDA)
  std::vector<profile::Entry> profile;  // summed over the runs, slowest first (o.profile)
};

// o.warmup untimed runs, then o.repeats timed ones, each ending with a device synchronisation.
Measured measure(const TrainBenchOptions& o, const std::function<void()>& run_once) {
  for (int i = 0; i < o.warmup; ++i) run_once();
  synchronize(o.device);
#if GHM_WITH_CUDA
  if (o.device.is_cuda()) cuda::device_allocator(o.device.index).reset_peak();
#endif
  Storage::reset_host_peak();
  Measured m;
  std::map<std::string, profile::Entry> totals;
  for (int i = 0; i < o.repeats; ++i) {
    if (o.profile) profile::start();
    const auto t0 = std::chrono::steady_clock::now();
    run_once();
    synchronize(o.device);
    m.runs_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!o.profile) continue;
    profile::mark("(untracked)");
    for (const profile::Entry& e : profile::stop()) {
      profile::Entry& t = totals[e.name];
      t.name = e.name;
      t.seconds += e.seconds;
      t.calls += e.calls;
    }
  }
  std::vector<double> sorted = m.runs_ms;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t mid = sorted.size() / 2;
  m.median_ms = sorted.size() % 2 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
  m.min_ms = sorted.front();
  m.peak_rss_mib = peak_rss_mib();
  m.peak_host_tensor_mib = static_cast<double>(Storage::host_peak_bytes()) / 1048576.0;
#if GHM_WITH_CUDA
  if (o.device.is_cuda())
    m.peak_device_mib =
        static_cast<double>(cuda::device_allocator(o.device.index).stats().peak_allocated_bytes) / 1048576.0;
#endif
  for (auto& [name, e] : totals) m.profile.push_back(e);
  std::sort(m.profile.begin(), m.profile.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  return m;
}

void print_profile(const std::vector<profile::Entry>& rows, int repeats) {
  double profiled = 0;
  for (const profile::Entry& e : rows) profiled += e.seconds;
  std::printf("\nprofile (mean over %d runs): op, ms per run, share, calls per run\n", repeats);
  double forward = 0, backward = 0;
  for (const profile::Entry& e : rows) {
    const double per = 1e3 * e.seconds / repeats;
    std::printf("  %-36s %9.2f  %5.1f%%  %6.1f\n", e.name.c_str(), per, 100.0 * e.seconds / profiled,
                static_cast<double>(e.calls) / repeats);
    const bool is_backward = e.name.rfind("backward:", 0) == 0 ||
                             (e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, " backward") == 0);
    if (is_backward) backward += per;
    else forward += per;
  }
  std::printf("  %-36s %9.2f\n  %-36s %9.2f\n", "(sum: backward)", backward, "(sum: everything else)", forward);
}

void print_summary(const TrainBenchOptions& o, const char* mode, Precision precision, const char* model, int depth,
                   std::int64_t classes, const Measured& m) {
  std::printf("bench train: %s, %s ResNet-%d FPN, %d classes, %d x %lldx%lld, %d thread%s, %s, %s\n", mode, model,
              depth, static_cast<int>(classes), o.batch,
              static_cast<long long>(o.size.height), static_cast<long long>(o.size.width), o.threads,
              o.threads == 1 ? "" : "s", o.device.to_string().c_str(), precision_name(precision));
  std::printf("median_ms     %.1f\nmin_ms        %.1f\npeak_rss_mib  %.1f\npeak_tensor_mib %.1f\n", m.median_ms, m.min_ms,
              m.peak_rss_mib, m.peak_host_tensor_mib);
  if (o.device.is_cuda()) std::printf("peak_device_mib %.1f\n", m.peak_device_mib);
}

void write_json(const TrainBenchOptions& o, const char* mode, Precision precision, int depth, const Measured& m) {
  std::ostringstream out;
  out << "{\"mode\": \"" << mode << "\", \"precision\": \"" << precision_name(precision) << "\", \"depth\": " << depth << ", \"batch\": " << o.batch
      << ", \"height\": " << o.size.height << ", \"width\": " << o.size.width << ", \"threads\": " << o.threads
      << ", \"device\": \"" << o.device.to_string() << "\", \"peak_device_mib\": " << m.peak_device_mib
      << ", \"median_ms\": " << m.median_ms << ", \"runs_ms\": [";
  for (std::size_t i = 0; i < m.runs_ms.size(); ++i) out << (i ? ", " : "") << m.runs_ms[i];
  out << "], \"peak_rss_mib\": " << m.peak_rss_mib << ", \"peak_tensor_mib\": " << m.peak_host_tensor_mib
      << ", \"profile\": [";
  for (std::size_t i = 0; i < m.profile.size(); ++i)
    out << (i ? ", " : "") << "{\"name\": \"" << m.profile[i].name << "\", \"ms\": "
        << 1e3 * m.profile[i].seconds / o.repeats << ", \"calls\": " << static_cast<double>(m.profile[i].calls) / o.repeats
        << "}";
  out << "]}\n";
  io::write_output(o.json_out, out.str());
}

// The model in training or evaluation mode; inference also keeps freed host blocks, as eval and
// detect do.
void enter_mode(nn::Module& model, bool training) {
  model.train(training);
  if (!training) cpu::enable_host_cache_for_inference();
}

// The console lines, the profile and the JSON of a finished measurement.
void report(const TrainBenchOptions& o, bool training, Precision precision, const char* model, int depth,
            std::int64_t classes, const Measured& m, double loss_value, std::size_t detections) {
  const char* mode = training ? "train" : "infer";
  print_summary(o, mode, precision, model, depth, classes, m);
  if (training) std::printf("loss          %.5f\n", loss_value);
  else std::printf("detections    %zu\n", detections);
  if (o.profile) print_profile(m.profile, o.repeats);
  if (!o.json_out.empty()) write_json(o, mode, precision, depth, m);
}

// Faster R-CNN's step or inference (bench/torch_faster_rcnn.py is the peer): the model's own
// losses (sampling drawn from a generator seeded once) and detections; no gradient clipping unless
// train.clip_grad says so (the Faster R-CNN configs set 0, as torchvision's recipe).
int run_faster_rcnn_bench(const TrainBenchOptions& o, const io::Json& config) {
  const TrainConfig train = train_config(config);
  const TestConfig test = test_config(config);
  const bool training = o.mode == TrainBenchMode::Train;
  const Precision precision = training ? train.precision : test.precision;
  check_precision(precision, o.device, training ? "train.precision" : "test.precision");
  Generator gen(0);
  detection::FasterRcnn model(faster_rcnn_config(config), gen);
  load_weights(o.weights, model);
  const Tensor images = input_images(o, gen).to(o.device);
  const std::int64_t classes = model.config().roi.num_classes - 1;
  std::vector<detection::ImageGroundTruth> gt;
  for (int n = 0; n < o.batch; ++n) gt.push_back(synthetic_boxes(n, o.boxes, classes, o.size.height, o.size.width));
  const std::vector<detection::ImageSize> sizes(static_cast<std::size_t>(o.batch), {o.size.height, o.size.width});
  model.to(o.device);
  nn::SgdConfig sgd_cfg = train.sgd;
  sgd_cfg.lr = 1e-4f;  // small: the same batch is used for every step
  nn::Sgd sgd(model.named_parameters(), sgd_cfg);
  const std::vector<Tensor> params = model.parameters();
  losses::GhmEmaState ghm_state(model.config().roi_train.ghmr.bins());
  Generator sampling_gen(1);
  const detection::Sampling sampling{detection::SampleOrder::Random, &sampling_gen};
  enter_mode(model, training);

  double loss_value = 0;
  std::size_t detections = 0;
  const Measured m = measure(o, [&]() {
    const AutocastScope autocast(precision);
    if (!training) {
      const NoGradGuard no_grad;
      detections = 0;
      for (const detection::Detections& d : model.forward(images, sizes).detections)
        detections += static_cast<std::size_t>(d.scores.numel());
      return;
    }
    const detection::FasterRcnnLosses l = model.losses(images, sizes, gt, sampling, &ghm_state);
    loss_value = l.total.item();
    sgd.zero_grad();
    l.total.backward();
    {
      profile::Region region("clip_grad_norm");
      const double norm = nn::grad_norm(params);
      if (train.clip_grad > 0 && norm > train.clip_grad)
        nn::scale_grads(params, static_cast<float>(train.clip_grad / (norm + 1e-6)));
    }
    profile::Region region("sgd step");
    sgd.step(sgd_cfg.lr);
  });
  report(o, training, precision, "Faster R-CNN", model.config().backbone.depth, classes, m, loss_value, detections);
  return 0;
}

}  // namespace

// Long because the timed closure is the whole training step (forward, targets, loss, backward with
// the loss scale, clipping, SGD) as engine/trainer.cpp runs it, kept in one place so that what is
// timed reads at once.
int run_train_bench(const TrainBenchOptions& o) {
  struct RestoreThreads {  // the caller's OpenMP thread count comes back however we leave
    int threads = omp_get_max_threads();
    ~RestoreThreads() { omp_set_num_threads(threads); }
  } restore_threads;
  omp_set_num_threads(o.threads);
  const io::Json config = load_config(resolve_source_file(o.config), o.overrides);
  if (model_type(config) == ModelType::FasterRcnn) return run_faster_rcnn_bench(o, config);
  const detection::RetinaNetConfig model_cfg = retinanet_config(config);
  const TrainConfig train = train_config(config);
  const TestConfig test = test_config(config);
  const detection::DetectionLossConfig loss_cfg = loss_config(config);
  const detection::AnchorGenerator anchors(anchor_config(config));
  const detection::TargetConfig target_cfg = target_config(data_config(config), train);
  const bool training = o.mode == TrainBenchMode::Train;
  const Precision precision = training ? train.precision : test.precision;
  check_precision(precision, o.device, training ? "train.precision" : "test.precision");

  Generator gen(0);
  detection::RetinaNet model(model_cfg, gen);
  load_weights(o.weights, model);
  const Tensor images = input_images(o, gen).to(o.device);
  std::vector<detection::ImageGroundTruth> gt;
  for (int n = 0; n < o.batch; ++n)
    gt.push_back(synthetic_boxes(n, o.boxes, model_cfg.num_classes, o.size.height, o.size.width));
  model.to(o.device);
  nn::SgdConfig sgd_cfg = train.sgd;
  sgd_cfg.lr = 1e-4f;  // small: the same batch is used for every step
  nn::Sgd sgd(model.named_parameters(), sgd_cfg);
  const std::vector<Tensor> params = model.parameters();
  detection::DetectionLossState loss_state(loss_cfg);
  nn::GradScaler scaler(train.loss_scale);  // fp16: dynamic loss scaling, as the trainer
  const io::Batch batch = inference_batch(images, o.size);
  enter_mode(model, training);

  double loss_value = 0;
  std::size_t detections = 0;
  const Measured m = measure(o, [&]() {
    if (!training) {
      detections = 0;
      for (const auto& d : retinanet_detections(model, anchors, batch, test))
        detections += static_cast<std::size_t>(d.scores.numel());
      profile::mark("postprocess");
      return;
    }
    detection::RetinaNetOutput out = [&] {
      const AutocastScope autocast(precision);
      return model.forward(images);
    }();
    out.features.clear();  // as the trainer (engine/detector.cpp): not held through the loss
    std::vector<detection::FeatureSize> sizes;
    for (const Tensor& c : out.cls_logits) sizes.push_back({c.size(2), c.size(3)});
    detection::BatchTargets targets;
    {
      profile::Region region("targets (anchors + assignment)");
      targets = detection::to_device(detection::batch_targets(anchors, sizes, gt, model_cfg.num_classes, target_cfg),
                                     o.device);
    }
    const detection::DetectionLoss loss =
        detection::detection_loss(detection::head_rows(out.cls_logits, model_cfg.num_classes),
                                  detection::head_rows(out.box_deltas, 4), targets, loss_cfg, loss_state);
    loss_value = loss.total.item();
    sgd.zero_grad();
    loss.total.backward(Tensor::full(Shape{}, scaler.scale(), DType::F32, loss.total.device()));
    bool step = true;
    {
      profile::Region region("clip_grad_norm");  // with the loss scale's unscaling, as the trainer
      const double norm = scaler.unscale(params);
      step = scaler.update(norm) || !scaler.dynamic();
      if (train.clip_grad > 0 && norm > train.clip_grad)
        nn::scale_grads(params, static_cast<float>(train.clip_grad / (norm + 1e-6)));
    }
    profile::Region region("sgd step");
    if (step) sgd.step(sgd_cfg.lr);
  });

  report(o, training, precision, "RetinaNet", model_cfg.backbone.depth, model_cfg.num_classes, m, loss_value,
         detections);
  return 0;
}

}  // namespace ghm::bench
