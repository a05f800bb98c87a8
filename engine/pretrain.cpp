// Pretraining a backbone as a classifier (see pretrain.h).
#include "engine/pretrain.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>

#include "core/autograd.h"
#include "core/check.h"
#include "core/cpu/fair_share.h"
#include "core/cpu/parallel.h"
#include "core/precision.h"
#include "core/random.h"
#include "dist/communicator.h"
#include "engine/config.h"
#include "engine/work_dir.h"
#include "io/input_file.h"
#include "io/output_file.h"
#include "io/safetensors.h"
#include "io/shape_classification.h"
#include "losses/softmax_ce.h"
#include "nn/classifier.h"
#include "nn/optim.h"

namespace ghm::engine {
namespace {

using Clock = std::chrono::steady_clock;

bool is_pretrain_file(const std::string& name) {
  return name == "config.json" || name == "log.jsonl" || name == "eval.jsonl" || name == "classifier.safetensors" ||
         name == "backbone.safetensors";
}

// Images of one split in memory: pixels [count, size, size, 3] (RGB bytes), labels [count].
struct ImageSet {
  int size = 0;
  std::vector<std::uint8_t> pixels;
  std::vector<std::int64_t> labels;
  std::int64_t count() const { return static_cast<std::int64_t>(labels.size()); }
};

ImageSet generate_set(int size, int count, std::uint64_t seed, io::ClassificationSplit split) {
  ImageSet set;
  set.size = size;
  const std::size_t per_image = static_cast<std::size_t>(size) * size * 3;
  set.pixels.resize(per_image * static_cast<std::size_t>(count));
  set.labels.resize(static_cast<std::size_t>(count));
#pragma omp parallel for schedule(dynamic, 16)
  for (int i = 0; i < count; ++i) {
    const io::ClassificationImage image = io::generate_classification_image(size, seed, split, i);
    std::copy(image.image.data.begin(), image.image.data.end(), set.pixels.begin() + per_image * i);
    set.labels[static_cast<std::size_t>(i)] = image.label;
  }
  return set;
}

// The images `indices` of `set` as a normalised [B, 3, S, S] tensor, image b mirrored left to
// right where flip[b]; their labels [B].
struct Batch {
  Tensor images, labels;
};
Batch make_batch(const ImageSet& set, const std::vector<std::int64_t>& indices, const std::vector<bool>& flip,
                 const DataConfig& data) {
  const std::int64_t b_count = static_cast<std::int64_t>(indices.size()), s = set.size, plane = s * s;
  Batch out{Tensor::empty(Shape{b_count, 3, s, s}), Tensor::empty(Shape{b_count}, DType::I64)};
  float* dst = out.images.data<float>();
  std::int64_t* labels = out.labels.data<std::int64_t>();
  for (std::int64_t b = 0; b < b_count; ++b) {
    const std::uint8_t* src = set.pixels.data() + static_cast<std::size_t>(indices[b]) * plane * 3;
    labels[b] = set.labels[static_cast<std::size_t>(indices[b])];
    for (int c = 0; c < 3; ++c) {
      const float scale = 1.0f / data.std[c], shift = data.mean[c];
      float* out_plane = dst + (b * 3 + c) * plane;
      for (std::int64_t y = 0; y < s; ++y)
        for (std::int64_t x = 0; x < s; ++x) {
          const std::int64_t from = flip[static_cast<std::size_t>(b)] ? s - 1 - x : x;
          out_plane[y * s + x] = (static_cast<float>(src[(y * s + from) * 3 + c]) - shift) * scale;
        }
    }
  }
  return out;
}

// Row-wise argmax of logits [B, K] (moved to the CPU) compared with labels [B] (CPU): correct count.
std::int64_t count_correct(const Tensor& logits, const Tensor& labels, std::vector<std::int64_t>* per_class_correct) {
  const Tensor l = logits.device().is_cuda() ? logits.detach().to(Device::cpu()) : logits.detach();
  const float* v = l.data<float>();
  const std::int64_t* y = labels.data<std::int64_t>();
  const std::int64_t n = l.size(0), k = l.size(1);
  std::int64_t correct = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const std::int64_t best = std::max_element(v + r * k, v + (r + 1) * k) - (v + r * k);
    if (best != y[r]) continue;
    ++correct;
    if (per_class_correct) ++(*per_class_correct)[static_cast<std::size_t>(best)];
  }
  return correct;
}

// Top-1 accuracy over `set` in evaluation mode, and per class.
struct Accuracy {
  double overall = 0;
  std::vector<double> per_class;
};
Accuracy evaluate(nn::ResNetClassifier& model, const ImageSet& set, const DataConfig& data, Device device,
                  Precision precision) {
  Accuracy acc;
  if (set.count() == 0) return acc;
  model.eval();
  const NoGradGuard no_grad;
  const int classes = model.num_classes();
  std::vector<std::int64_t> correct(static_cast<std::size_t>(classes), 0), total(static_cast<std::size_t>(classes), 0);
  constexpr std::int64_t kEvalBatch = 128;
  std::int64_t all_correct = 0;
  for (std::int64_t first = 0; first < set.count(); first += kEvalBatch) {
    std::vector<std::int64_t> indices(static_cast<std::size_t>(std::min(kEvalBatch, set.count() - first)));
    std::iota(indices.begin(), indices.end(), first);
    const Batch batch = make_batch(set, indices, std::vector<bool>(indices.size(), false), data);
    const AutocastScope autocast(precision);
    all_correct += count_correct(model.forward(batch.images.to(device)), batch.labels, &correct);
    for (const std::int64_t i : indices) ++total[static_cast<std::size_t>(set.labels[static_cast<std::size_t>(i)])];
  }
  model.train();
  acc.overall = static_cast<double>(all_correct) / static_cast<double>(set.count());
  for (int c = 0; c < classes; ++c)
    acc.per_class.push_back(total[c] ? static_cast<double>(correct[c]) / static_cast<double>(total[c]) : 0.0);
  return acc;
}

// The model's tensors whose names start with `prefix`, on the CPU, sorted by name.
std::vector<std::pair<std::string, Tensor>> cpu_state(const nn::Module& model, const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : model.state())
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name, t.detach().to(Device::cpu()));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

// What decides the weights a run writes: the pretrain section but its threads, log_interval and
// device, the body's architecture, and the normalisation (pretrain.h, reuse). A key that a stored
// run's config.json predates (pretrain.precision) counts as its default, which that run used.
io::Json pretrain_identity(const io::Json& config) {
  io::Json pretrain = io::Json::object(), body = io::Json::object();
  const io::Json& section = config.at("pretrain");
  const io::Json defaults = default_config();
  for (const auto& [key, fallback] : defaults.at("pretrain").as_object()) {
    if (key == "threads" || key == "log_interval" || key == "device") continue;
    const io::Json* value = section.find(key);
    pretrain.set(key, value ? *value : fallback);
  }
  const io::Json& b = config.at("model").at("backbone");
  for (const char* key : {"depth", "groups", "width_per_group", "base_width"}) body.set(key, b.at(key));
  io::Json out = io::Json::object();
  out.set("pretrain", pretrain).set("backbone", body);
  out.set("mean", config.at("data").at("mean")).set("std", config.at("data").at("std"));
  return out;
}

// The outcome of a finished run in `dir` whose config has this identity, if there is one: its
// backbone.safetensors loads and its config.json has the same identity. Anything else (missing,
// truncated or foreign files) is no finished run.
std::optional<PretrainOutcome> finished_run(const std::string& dir, const io::Json& identity) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string backbone = dir + "/backbone.safetensors", config = dir + "/config.json";
  if (!fs::is_regular_file(backbone, ec) || !fs::is_regular_file(config, ec)) return std::nullopt;
  try {
    const io::Json stored = io::Json::parse(io::read_input_text(config, "pretrain config", io::json_limit()), config);
    if (pretrain_identity(stored).dump() != identity.dump()) return std::nullopt;
    const io::SafetensorsData weights = io::load_safetensors(backbone);
    PretrainOutcome out;
    out.backbone_path = backbone;
    out.reused = true;
    out.val_accuracy = std::stod(weights.metadata.at("val_accuracy"));
    out.train_accuracy = std::stod(weights.metadata.at("train_accuracy"));
    out.final_loss = std::stod(weights.metadata.at("final_loss"));
    out.iterations = std::stoll(weights.metadata.at("iterations"));
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}


}  // namespace

// Long because it is the loop in one piece, in the order pretrain.h describes it.
PretrainOutcome pretrain_backbone(const io::Json& config, const PretrainOptions& options) {
  GHM_CHECK(!options.work_dir.empty(), "pretrain: a work directory is required");
  GHM_CHECK(dist::world().size() == 1, "pretrain runs as one process, but this job has ", dist::world().size(),
            ": start it without mpirun or srun");
  const PretrainConfig cfg = pretrain_config(config);
  const DataConfig data = data_config(config);
  nn::ResNetConfig body = retinanet_config(config).backbone;
  body.norm = nn::NormKind::BatchNorm;
  body.frozen_stages = 0;
  body.zero_init_residual = cfg.zero_init_residual;
  const Device device = parse_device(cfg.device, "pretrain.device");
  check_precision(cfg.precision, device, "pretrain.precision");
  if (options.reuse)
    if (std::optional<PretrainOutcome> done = finished_run(options.work_dir, pretrain_identity(config))) {
      if (!options.quiet)
        std::printf("pretrain: reusing the finished run in %s (the same config): held-out accuracy %.4f\n",
                    options.work_dir.c_str(), done->val_accuracy);
      return *done;
    }
  const cpu::OmpThreadsRestorer restore_threads;
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  Generator gen(cfg.seed);  // the initialisation first, then the orders and flips
  nn::ResNetClassifier model(body, io::classification_class_count(), gen);
  claim_work_dir(options.work_dir, false, options.overwrite, is_pretrain_file, "pretrain",
                 "--reuse to keep it when it ran the same pretraining");
  std::filesystem::create_directories(options.work_dir);
  io::write_output(options.work_dir + "/config.json", config.dump() + "\n");
  const std::string log_path = options.work_dir + "/log.jsonl", eval_path = options.work_dir + "/eval.jsonl";

  const auto t0 = Clock::now();
  const ImageSet train_set = generate_set(cfg.image_size, cfg.train_images, cfg.seed, io::ClassificationSplit::Train);
  const ImageSet val_set = generate_set(cfg.image_size, cfg.val_images, cfg.seed, io::ClassificationSplit::Val);
  const std::int64_t per_epoch = train_set.count() / cfg.batch_size;  // >= 1 (pretrain_config)
  if (!options.quiet)
    std::printf("pretrain: %d + %d images of %d px, %d classes, generated in %.1f s; %lld iterations per epoch\n",
                cfg.train_images, cfg.val_images, cfg.image_size, io::classification_class_count(),
                std::chrono::duration<double>(Clock::now() - t0).count(), static_cast<long long>(per_epoch));

  model.to(device);
  model.train();
  nn::Sgd sgd(model.named_parameters(), cfg.sgd);
  const nn::LrSchedule schedule = nn::LrSchedule::with_step_epochs(cfg.sgd.lr, cfg.warmup_iters, cfg.warmup_ratio,
                                                                   cfg.gamma, cfg.step_epochs, per_epoch);

  PretrainOutcome outcome;
  double interval_loss = 0;
  std::int64_t interval_correct = 0, interval_iters = 0;
  auto interval_start = Clock::now();
  std::vector<std::int64_t> order(static_cast<std::size_t>(train_set.count()));
  // pretrain.threads: 0 follows the machine, as train.threads (core/cpu/fair_share.h).
  std::optional<cpu::FairShare> share;
  if (cfg.threads == 0 && !device.is_cuda() && cpu::fair_share_applies())
    share.emplace(omp_get_max_threads(), omp_get_num_procs());
  for (int epoch = 0; epoch < cfg.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.next_u64() % i]);
    for (std::int64_t step = 0; step < per_epoch; ++step) {
      const std::vector<std::int64_t> indices(order.begin() + step * cfg.batch_size,
                                              order.begin() + (step + 1) * cfg.batch_size);
      std::vector<bool> flip(indices.size());
      for (std::size_t b = 0; b < flip.size(); ++b) flip[b] = (gen.next_u64() >> 63) != 0;
      if (share && share->update(cpu::other_runnable_tasks()) != omp_get_max_threads())
        omp_set_num_threads(share->threads());
      const Batch batch = make_batch(train_set, indices, flip, data);
      const float lr = schedule.at(static_cast<int>(outcome.iterations));
      const Tensor logits = [&] {
        const AutocastScope autocast(cfg.precision);  // backward runs each op in its forward's precision
        return model.forward(batch.images.to(device));
      }();
      Tensor loss = losses::softmax_cross_entropy_loss(logits, batch.labels.to(device), cfg.batch_size);
      sgd.zero_grad();
      loss.backward();
      sgd.step(lr);
      const double value = loss.detach().to(Device::cpu()).item();
      GHM_CHECK(std::isfinite(value), "pretrain diverged: the loss is ", value, " at iteration ",
                outcome.iterations + 1, ". Lower pretrain.lr or raise pretrain.warmup_iters");
      interval_loss += value;
      interval_correct += count_correct(logits, batch.labels, nullptr);
      ++interval_iters;
      ++outcome.iterations;
      if (outcome.iterations % cfg.log_interval != 0 && step + 1 != per_epoch) continue;
      const double seconds = std::chrono::duration<double>(Clock::now() - interval_start).count();
      outcome.final_loss = interval_loss / static_cast<double>(interval_iters);
      outcome.train_accuracy =
          static_cast<double>(interval_correct) / static_cast<double>(interval_iters * cfg.batch_size);
      const double images_per_s = static_cast<double>(interval_iters * cfg.batch_size) / seconds;
      io::Json line = io::Json::object();
      line.set("iteration", outcome.iterations);
      line.set("epoch", epoch + 1);
      line.set("lr", static_cast<double>(lr));
      line.set("loss", outcome.final_loss);
      line.set("accuracy", outcome.train_accuracy);
      line.set("time", seconds / static_cast<double>(interval_iters));
      line.set("images_per_s", images_per_s);
      io::append_output(log_path, line.dump() + "\n");
      if (!options.quiet)
        std::printf("pretrain: epoch %d/%d iter %lld/%lld lr %.4g loss %.4f accuracy %.3f (%.0f images/s)\n",
                    epoch + 1, cfg.epochs, static_cast<long long>(outcome.iterations),
                    static_cast<long long>(per_epoch * cfg.epochs), lr, outcome.final_loss, outcome.train_accuracy,
                    images_per_s);
      std::fflush(stdout);
      interval_loss = 0, interval_correct = 0, interval_iters = 0;
      interval_start = Clock::now();
    }
    if (val_set.count() == 0) continue;
    const Accuracy acc = evaluate(model, val_set, data, device, cfg.precision);
    outcome.val_accuracy = acc.overall;
    io::Json line = io::Json::object(), per_class = io::Json::object();
    for (std::size_t c = 0; c < acc.per_class.size(); ++c)
      per_class.set(io::classification_class_name(static_cast<int>(c)), acc.per_class[c]);
    line.set("epoch", epoch + 1);
    line.set("iteration", outcome.iterations);
    line.set("accuracy", acc.overall);
    line.set("per_class", per_class);
    io::append_output(eval_path, line.dump() + "\n");
    if (!options.quiet) std::printf("pretrain: epoch %d held-out accuracy %.4f\n", epoch + 1, acc.overall);
    std::fflush(stdout);
    interval_start = Clock::now();  // the evaluation is not training time
  }

  const auto number = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", v);
    return std::string(text);
  };
  const std::map<std::string, std::string> metadata = {
      {"source", "ghm_retinanet pretrain"},
      {"depth", std::to_string(body.depth)},
      {"groups", std::to_string(body.groups)},
      {"width_per_group", std::to_string(body.width_per_group)},
      {"base_width", std::to_string(body.base_width)},
      {"classes", std::to_string(io::classification_class_count())},
      {"image_size", std::to_string(cfg.image_size)},
      {"epochs", std::to_string(cfg.epochs)},
      {"seed", std::to_string(cfg.seed)},
      {"precision", precision_name(cfg.precision)},
      {"iterations", std::to_string(outcome.iterations)},
      {"final_loss", number(outcome.final_loss)},
      {"train_accuracy", number(outcome.train_accuracy)},
      {"val_accuracy", number(outcome.val_accuracy)}};
  io::save_safetensors(options.work_dir + "/classifier.safetensors", cpu_state(model, ""), metadata);
  outcome.backbone_path = options.work_dir + "/backbone.safetensors";
  io::save_safetensors(outcome.backbone_path, cpu_state(model, "backbone."), metadata);
  if (!options.quiet)
    std::printf("pretrain: held-out accuracy %.4f (%d images, chance %.4f); backbone weights in %s\n",
                outcome.val_accuracy, cfg.val_images, 1.0 / io::classification_class_count(),
                outcome.backbone_path.c_str());
  return outcome;
}

}  // namespace ghm::engine
