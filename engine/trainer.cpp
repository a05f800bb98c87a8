// The training loop (see trainer.h).
#include "engine/trainer.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <limits>
#include <optional>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/detection_data.h"
#include "engine/detector.h"
#include "engine/distributed.h"
#include "engine/inference.h"
#include "engine/train_log.h"
#include "engine/work_dir.h"
#include "core/check.h"
#include "core/cpu/fair_share.h"
#include "core/cpu/parallel.h"
#include "detection/targets.h"
#include "dist/communicator.h"
#include "dist/gradients.h"
#include "dist/sync_batch_norm.h"
#include "io/input_file.h"
#include "io/output_file.h"

namespace ghm::engine {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal); }


// Routes SIGINT, SIGTERM and SIGUSR1 to a flag for the lifetime of a training run. SIGUSR1 is the
// one mpirun passes on to every process as it is (on SIGINT or SIGTERM it sends SIGTERM and, a few
// seconds later, SIGKILL: a big model's checkpoint may not make it).
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    sigaction(SIGUSR1, &action, &old_usr1_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static int received() { return g_stop_signal.load(); }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  struct sigaction old_usr1_ {};
};

void check_finite(double value, const char* term, std::int64_t iteration, const std::string& last_checkpoint) {
  if (std::isfinite(value)) return;
  GHM_FAIL("training diverged: ", term, " is ", value, " at iteration ", iteration + 1, "; the last good checkpoint is ",
           last_checkpoint.empty() ? std::string("none (no checkpoint was written yet)") : "'" + last_checkpoint + "'",
           ". Lower train.lr, raise train.warmup_iters or check the data");
}

// A file that a run writes into its work directory.
bool is_run_file(const std::string& name) {
  return name == "config.json" || name == "log.jsonl" || name == "eval.jsonl" || checkpoint_iteration(name) >= 0;
}

// The checkpoints of this run and, on --resume, of the run it continues: retention deletes only
// among these (the lowest iterations first), never another run's files.
class RunCheckpoints {
 public:
  explicit RunCheckpoints(int keep) : keep_(static_cast<std::size_t>(keep)) {}

  void add(const std::string& path) {
    const std::int64_t n = checkpoint_iteration(path);
    const auto at = std::lower_bound(paths_.begin(), paths_.end(), std::make_pair(n, std::string()));
    if (at != paths_.end() && at->first == n) at->second = path;  // rewritten by a resumed run
    else paths_.insert(at, {n, path});
  }

  void prune() {
    while (paths_.size() > keep_) {
      std::filesystem::remove(paths_.front().second);
      paths_.erase(paths_.begin());
    }
  }

 private:
  std::size_t keep_;
  std::vector<std::pair<std::int64_t, std::string>> paths_;  // (iteration, path), sorted
};

// Keeps the log lines of iterations up to `iteration` (those after it are about to be repeated).
void truncate_log(const std::string& path, std::int64_t iteration) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  std::istringstream in(io::read_input_text(path, "training log", io::json_limit()));
  std::string kept, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const io::Json entry = io::Json::parse(line, path);
    if (entry.at("iteration").as_int() <= iteration) kept += line + "\n";
  }
  io::write_output(path, kept);
}

bool all_finite(const std::vector<Tensor>& params) {
  for (const Tensor& device_p : params) {
    const Tensor p = device_p.device().is_cuda() ? device_p.detach().to(Device::cpu()) : device_p;
    const float* v = p.data<float>();
    float acc = 0;
    for (std::int64_t i = 0; i < p.numel(); ++i) acc += v[i] * 0.0f;  // NaN if any element is NaN or inf
    if (acc != 0.0f) return false;
  }
  return true;
}

void append_line(const std::string& path, const std::string& line) { io::append_output(path, line + "\n"); }

// The learning rate per iteration: linear warmup, then steps at the given epochs.
nn::LrSchedule lr_schedule(const TrainConfig& train, std::int64_t per_epoch) {
  return nn::LrSchedule::with_step_epochs(train.sgd.lr, train.warmup_iters, train.warmup_ratio, train.gamma,
                                          train.step_epochs, per_epoch);
}

// The model's parameters and buffers, in registration order (the same in every process).
std::vector<Tensor> model_state_tensors(const nn::Module& model) {
  std::vector<Tensor> out;
  for (const auto& [name, t] : model.named_parameters()) out.push_back(t);
  for (const auto& [name, t] : model.named_buffers()) out.push_back(t);
  return out;
}

// The config's initial weights (when given) loaded into the freshly initialised model, which then
// moves to its device and into training mode.
void prepare_model(nn::Module& model, const TrainConfig& train, const Device& device, bool quiet) {
  if (!train.init_weights.empty()) {
    const nn::LoadReport r = load_model_weights(train.init_weights, model, nn::Strict::No);
    GHM_CHECK(r.mismatched.empty(), train.init_weights, ": ", r.mismatched.front(), " does not match the model");
    if (!quiet)
      std::printf("init_weights: %s (%zu model tensors not in the file)\n", train.init_weights.c_str(), r.missing.size());
  }
  model.to(device);  // before the optimizer, whose momentum buffers follow the parameters
  model.train();
}

// With --resume: the model, optimizer and loss state of the newest checkpoint that loads, the log
// cut back to it, and the checkpoints up to it counted as this run's (newer ones that do not load
// stay until the run rewrites them). Either way the work directory gets the resolved config.
// In a job of several processes every rank loads the checkpoint and only rank 0 (`lead`) writes.
void start_or_resume(const TrainOptions& options, const std::string& log_path, const std::string& config_text,
                     nn::Module& model, nn::Sgd& sgd, detection::DetectionLossState& loss_state,
                     TrainProgress& progress, TrainOutcome& outcome, RunCheckpoints& checkpoints,
                     dist::Communicator& comm) {
  const bool lead = comm.rank() == 0;
  if (options.resume) {
    const ResumePoint point = resume_point(options.work_dir, model, sgd, loss_state, comm);
    for (const std::string& skipped : point.skipped)
      if (lead) std::fprintf(stderr, "warning: train --resume: skipping a checkpoint that does not load: %s\n", skipped.c_str());
    progress = point.info.progress;
    outcome.iterations = progress.iteration;
    outcome.last_checkpoint = point.path;
    for (const std::string& c : list_checkpoints(options.work_dir))
      if (checkpoint_iteration(c) <= checkpoint_iteration(point.path)) checkpoints.add(c);
    if (point.info.config_json != config_text && !options.quiet && lead)
      std::fprintf(stderr, "warning: resuming %s with a config that differs from the one it was written with\n",
                   point.path.c_str());
    if (!lead) return;
    if (!options.quiet)
      std::printf("resumed from %s at iteration %lld\n", point.path.c_str(), static_cast<long long>(progress.iteration));
    truncate_log(log_path, progress.iteration);
  }
  if (lead) io::write_output(options.work_dir + "/config.json", config_text + "\n");
}

struct StepResult {
  double cls = 0, reg = 0, grad_norm = 0;  // the losses: the mean over the job's processes
  bool skipped = false;                    // inf/NaN gradients under dynamic loss scaling: no step
  dist::ExchangeStats exchange;  // the gradient exchange (several processes)
  int stop_signal = 0;  // several processes: the stop signal any of them received before this step's agreement
};

// What the processes of a job agree on in each step, in one small all-reduce: the mean losses
// (for the log and the divergence check, so that every rank stops alike) and which stop signals
// any process received, counted per kind, so that every process names the same one even when a
// signal reached some of them only after this step's agreement: SIGTERM before SIGINT before
// SIGUSR1. One process: its own values.
StepResult agree(dist::Communicator& comm, double cls, double reg) {
  const int signal = StopSignals::received();
  if (comm.size() == 1) return {cls, reg, 0, false, {}, signal};
  const auto is = [&](int s) { return signal == s ? 1.0f : 0.0f; };
  std::array<float, 5> v{static_cast<float>(cls), static_cast<float>(reg), is(SIGTERM), is(SIGINT), is(SIGUSR1)};
  comm.all_reduce_sum(v);
  const double n = comm.size();
  const int agreed = v[2] > 0 ? SIGTERM : v[3] > 0 ? SIGINT : v[4] > 0 ? SIGUSR1 : 0;
  return {v[0] / n, v[1] / n, 0, false, {}, agreed};
}

// The parts of a run a step uses besides the model and the batch.
struct StepContext {
  detection::DetectionLossState& loss_state;
  nn::Sgd& sgd;
  const std::vector<Tensor>& params;
  const TrainConfig& train;
  const DistConfig& dist_cfg;
  dist::Communicator& comm;
  dist::GradientReducer& reducer;
  nn::GradScaler& scaler;
};

// Whether `value` is finite on every process of the job (one process: its own). The gradients are
// averaged before their norm is taken, but the verdict that decides a step is agreed explicitly, as
// the losses are in agree().
bool agreed_finite(dist::Communicator& comm, double value) {
  std::array<float, 1> bad{std::isfinite(value) ? 0.0f : 1.0f};
  if (comm.size() > 1) comm.all_reduce_sum(bad);
  return bad[0] == 0;
}

// Dynamic loss scaling meets an inf or NaN loss or gradient norm: the step is skipped and the scale
// halves (nn/grad_scaler.h), unless that happened nn::GradScaler::kMaxSkippedInARow times in a row,
// which is a diverging run, not an overflow.
StepResult skip_step(const StepContext& c, StepResult r, std::int64_t iteration, const std::string& last_checkpoint) {
  c.scaler.update(std::numeric_limits<double>::infinity());
  r.skipped = true;
  if (c.scaler.skipped_in_a_row() >= nn::GradScaler::kMaxSkippedInARow)
    check_finite(std::isfinite(r.cls + r.reg) ? r.grad_norm : r.cls + r.reg,
                 std::isfinite(r.cls + r.reg) ? "the gradient norm (steps skipped by the loss scaler in a row: 64)"
                                              : "the loss (steps skipped by the loss scaler in a row: 64)",
                 iteration, last_checkpoint);
  return r;
}

// One iteration: forward, targets, loss (engine/detector.h), backward, (several processes: the
// gradients averaged over them), gradient clipping and the SGD step.
StepResult train_step(Detector& model, const io::Batch& batch, float lr, const StepContext& c, std::int64_t iteration,
                      const std::string& last_checkpoint) {
  const DetectorLoss loss =
      model.loss(batch, {c.loss_state, c.dist_cfg, c.comm, c.train.precision, c.train.seed, iteration});
  StepResult r = agree(c.comm, loss.cls.item(), loss.reg.item());
  if (c.scaler.dynamic() && !std::isfinite(r.cls + r.reg))  // an fp16 forward that overflowed: no backward
    return skip_step(c, r, iteration, last_checkpoint);
  check_finite(r.cls, "loss_cls", iteration, last_checkpoint);
  check_finite(r.reg, "loss_reg", iteration, last_checkpoint);
  nn::Sgd& sgd = c.sgd;
  const TrainConfig& train = c.train;
  const std::vector<Tensor>& params = c.params;
  sgd.zero_grad();
  {
    const GradReadyScope overlap = c.reducer.overlap();  // buckets of gradients start their sums as they fill
    loss.total.backward(Tensor::full(Shape{}, c.scaler.scale(), DType::F32, loss.total.device()));
  }
  r.exchange = c.reducer.finish();  // averaged before the check below: every process decides alike
  r.grad_norm = c.scaler.unscale(params);
  if (c.scaler.dynamic() && !agreed_finite(c.comm, r.grad_norm)) return skip_step(c, r, iteration, last_checkpoint);
  check_finite(r.grad_norm, "the gradient norm", iteration, last_checkpoint);
  c.scaler.update(r.grad_norm);  // a good step (dynamic scaling counts it)
  if (train.clip_grad > 0 && r.grad_norm > train.clip_grad)
    nn::scale_grads(params, static_cast<float>(train.clip_grad / (r.grad_norm + 1e-6)));  // as nn::clip_grad_norm
  sgd.step(lr);
  return r;
}

// The COCO numbers of the validation split after an epoch: console and eval.jsonl.
// Every process runs its shard; rank 0 gets the numbers and writes them.
void evaluate_after_epoch(Detector& model, const DetectionSource& val, const DataConfig& data, const TestConfig& test,
                          const TrainProgress& progress, const TrainOptions& options) {
  const std::optional<EvalReport> report = evaluate_split(model, val, data.val_json, test, data);
  if (!report) return;
  const EvalReport& r = *report;
  if (!options.quiet)
    std::printf("evaluation after epoch %lld:\n%s", static_cast<long long>(progress.epoch), r.summary.c_str());
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"epoch\": %lld, \"iteration\": %lld, \"AP\": %.4f, \"AP50\": %.4f, \"AP75\": %.4f, \"APs\": %.4f, "
                "\"APm\": %.4f, \"APl\": %.4f}",
                static_cast<long long>(progress.epoch), static_cast<long long>(progress.iteration), r.coco.stats[0],
                r.coco.stats[1], r.coco.stats[2], r.coco.stats[3], r.coco.stats[4], r.coco.stats[5]);
  append_line(options.work_dir + "/eval.jsonl", line);
}

}  // namespace

// Long because it is the run itself: each step is a named function above, and what is left here is
// their order, which fixes the random streams (the model's initialisation, then the loader's), the
// checkpoint points and what a resumed run repeats.
TrainOutcome train_detector(const io::Json& config, const TrainOptions& options) {
  GHM_CHECK(!options.work_dir.empty(), "train: a work directory is required");
  const DataConfig data = data_config(config);
  const TrainConfig train = train_config(config);
  const detection::DetectionLossConfig loss_cfg = loss_config(config);
  const TestConfig test = test_config(config);
  const DistConfig dist_cfg = dist_config(config);
  dist::Communicator& comm = dist::world();
  const bool lead = comm.rank() == 0;  // writes the files and the console lines of the job
  const cpu::OmpThreadsRestorer restore_threads;  // the fair share below may change the count
  if (train.threads > 0) omp_set_num_threads(train.threads);
  else if (comm.local_size() > 1) omp_set_num_threads(process_threads(omp_get_num_procs(), comm.local_size()));

  if (lead) {
    claim_work_dir(options.work_dir, options.resume, options.overwrite, is_run_file, "train", "--resume to continue it");
    std::filesystem::create_directories(options.work_dir);
  }
  const std::string log_path = options.work_dir + "/log.jsonl";
  const std::string config_text = config.dump();

  auto train_set = load_split(data.train_json, data, Split::Train);
  const DetectionSource source(std::move(train_set), data.train_images, data, Split::Train);
  std::unique_ptr<DetectionSource> val;
  if (train.eval_interval > 0)
    val = std::make_unique<DetectionSource>(load_split(data.val_json, data, Split::Test), data.val_images, data,
                                            Split::Test);

  const Device device = process_device(train.device, "train.device", comm);
  check_precision(train.precision, device, "train.precision");
  if (val) check_precision(test.precision, device, "test.precision");
  Generator init_gen(train.seed);  // the model's initialisation is the seed's first use
  const std::unique_ptr<Detector> detector = make_detector(config, init_gen);
  GHM_CHECK(source.dataset().num_classes() == detector->num_classes(), data.train_json, " has ",
            source.dataset().num_classes(), " categories but model.head.num_classes is ", detector->num_classes());
  nn::Module& model = detector->module();
  prepare_model(model, train, device, options.quiet || !lead);
  dist::broadcast_state(comm, model_state_tensors(model));  // one starting point for every process
  if (detector->backbone().norm == nn::NormKind::SyncBatchNorm && comm.size() > 1)  // statistics of the job's batch
    nn::attach_batch_norm_sync(model, std::make_shared<const BatchNormSync>(dist::batch_norm_sync(comm)));
  nn::Sgd sgd(model.named_parameters(), train.sgd);
  const std::vector<Tensor> params = model.parameters();
  detection::DetectionLossState loss_state = detector->new_loss_state();

  io::LoaderConfig loader_cfg = train_loader_config(data, train);
  loader_cfg.shards = comm.size();  // each process its part of every batch of shards x batch_size
  loader_cfg.shard = comm.rank();
  io::DataLoader loader(source.size(), source.sample_fn(), loader_cfg, source.aspects());
  const std::int64_t per_epoch = loader.batches_per_epoch();
  const nn::LrSchedule schedule = lr_schedule(train, per_epoch);

  TrainProgress progress;
  TrainOutcome outcome;
  RunCheckpoints checkpoints(train.keep_checkpoints);
  start_or_resume(options, log_path, config_text, model, sgd, loss_state, progress, outcome, checkpoints, comm);
  GHM_CHECK(!(comm.size() > 1 && dist_cfg.ghm_counts == GhmCountScope::Sum && detector->type() == ModelType::RetinaNet &&
              loss_cfg.cls.kind == detection::ClsLossKind::GhmCExact),
            "dist.ghm_counts: sum is not available for loss.cls.type ghmc_exact, whose exact density is each "
            "process's own; use ghmc, or dist.ghm_counts: rank");
  if (comm.size() > 1 && dist_cfg.ghm_counts == GhmCountScope::Sum) {  // one density over the job's batch
    const losses::GhmCountSum across{[&comm](std::span<double> v) { comm.all_reduce_sum(v); }, comm.size()};
    loss_state.cls.across = across;
    loss_state.reg.across = across;
  }
  // Synchronised batch norm sums during the backward: the buckets then wait for its end (gradients.h).
  const bool sync_bn = detector->backbone().norm == nn::NormKind::SyncBatchNorm;
  dist::GradientReducer reducer(comm, params,
                                {.bucket_bytes = dist_cfg.bucket_bytes, .wire = dist_cfg.grad_precision, .overlap = !sync_bn});
  nn::GradScaler scaler(train.loss_scale);  // scale 1 and never skipping unless train.loss_scale says otherwise
  if (scaler.dynamic() && progress.loss_scale > 0) scaler.restore(progress.loss_scale, progress.loss_scale_good_steps);
  const StepContext step_context{loss_state, sgd, params, train, dist_cfg, comm, reducer, scaler};

  auto save = [&]() {
    GHM_CHECK(all_finite(params), "training diverged: the parameters are not finite after iteration ",
              progress.iteration, "; the last good checkpoint is ",
              outcome.last_checkpoint.empty() ? std::string("none") : "'" + outcome.last_checkpoint + "'",
              ". Lower train.lr, raise train.warmup_iters or check the data");
    const std::string path = options.work_dir + "/iter_" + std::to_string(progress.iteration) + ".safetensors";
    if (scaler.dynamic()) {
      progress.loss_scale = scaler.scale();
      progress.loss_scale_good_steps = scaler.good_steps();
    }
    outcome.last_checkpoint = path;
    const std::vector<detection::DetectionLossState> other_ranks = gather_loss_states(comm, loss_state, dist_cfg);
    share_buffers(comm, model);
    if (!lead) return;
    save_checkpoint(path, model, sgd, loss_state, progress, config_text, other_ranks);
    checkpoints.add(path);
    checkpoints.prune();
  };

  // train.threads: 0 follows the machine: a core kept busy by another program is left to it.
  std::optional<cpu::FairShare> share;
  if (train.threads == 0 && !device.is_cuda() && comm.local_size() == 1 && cpu::fair_share_applies())
    share.emplace(omp_get_max_threads(), omp_get_num_procs());
  StopSignals signals;
  IntervalStats interval;
  const LogContext context{per_epoch * train.epochs, progress.iteration, train.epochs, comm.size(), Clock::now()};
  while (progress.epoch < train.epochs) {
    loader.start_epoch(progress.epoch, progress.epoch_batch);
    auto iteration_start = Clock::now();
    while (std::optional<io::Batch> batch = loader.next()) {
      if (share && share->update(cpu::other_runnable_tasks()) != omp_get_max_threads()) {
        if (!options.quiet && lead)
          std::printf("compute threads: %d of %d (%s)\n", share->threads(), omp_get_num_procs(),
                      share->threads() < omp_get_max_threads() ? "other programs keep cores busy" : "cores free again");
        omp_set_num_threads(share->threads());
      }
      const float lr = schedule.at(static_cast<int>(progress.iteration));
      const StepResult step = train_step(*detector, *batch, lr, step_context, progress.iteration,
                                         outcome.last_checkpoint);
      ++progress.iteration;
      ++progress.epoch_batch;

      const auto now = Clock::now();
      interval.add(step.cls + step.reg, step.cls, step.reg, step.grad_norm, step.skipped,
                   std::chrono::duration<double>(now - iteration_start).count(), batch->wait_seconds, step.exchange.seconds,
                   static_cast<int>(batch->samples.size()) * comm.size());
      interval.loss_scale = scaler.scale();
      iteration_start = now;
      outcome.iterations = progress.iteration;
      if (comm.size() > 1 && lead && !options.quiet && progress.iteration == context.first_iteration + 1)
        std::printf("data parallel: %d processes x batch %d; gradients: %.2f MB of %s per step in %d all-reduce "
                    "call(s), %d started during the backward\n",
                    comm.size(), train.batch_size, static_cast<double>(step.exchange.bytes) / 1e6,
                    precision_name(dist_cfg.grad_precision), step.exchange.calls, step.exchange.started_early);
      if (progress.iteration % train.log_interval == 0 || progress.iteration == context.total) {
        if (lead) log_interval(log_path, progress, lr, interval, context, now, options.quiet);
        outcome.final_loss = interval.loss / std::max(interval.with_loss, 1);
        interval = IntervalStats{};
      }
      if (train.checkpoint_interval > 0 && progress.iteration % train.checkpoint_interval == 0) save();
      if (const int signal = comm.size() == 1 ? StopSignals::received() : step.stop_signal; signal != 0) {
        save();
        outcome.stop_signal = signal;
        if (!options.quiet && lead)
          std::printf("stopped by %s: checkpoint %s written\n",
                      signal == SIGTERM ? "SIGTERM" : signal == SIGUSR1 ? "SIGUSR1" : "SIGINT",
                      outcome.last_checkpoint.c_str());
        return outcome;
      }
    }
    // The epoch is complete: the checkpoint records the start of the next one.
    ++progress.epoch;
    progress.epoch_batch = 0;
    save();
    if (val && progress.epoch % train.eval_interval == 0)
      evaluate_after_epoch(*detector, *val, data, test, progress, options);  // after save(): shared buffers
  }
  return outcome;
}

}  // namespace ghm::engine
