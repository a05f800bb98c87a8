// DataLoader (behaviour in data_loader.h).
//
// Shared state, all under one mutex: the current plan, a generation number bumped by every
// start_epoch, the next plan position to claim and the next to deliver, and the finished batches
// of the current generation keyed by position. Workers sleep on `work_available` until a
// position can be claimed (claimed < delivered + prefetch_batches) or the loader stops; they load
// without the lock, then deposit the result if their generation is still current. The consumer
// sleeps on `batch_done` until the position it wants is deposited. `generation` and `stopping`
// are also atomics so a worker can notice cancellation between two samples without the lock.
//
// Seeds: the plan's shuffle uses derive_seed(derive_seed(seed, kOrderStream), epoch); samples use
// derive_seed(derive_seed(derive_seed(seed, kSampleStream), epoch), index). Shuffles are
// Fisher-Yates with j = next_u64() % (i + 1) (bias below n / 2^64).
#include "io/data_loader.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/check.h"
#include "io/transforms.h"

namespace ghm::io {

namespace {

constexpr std::uint64_t kOrderStream = 0;
constexpr std::uint64_t kSampleStream = 1;
constexpr std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

using Clock = std::chrono::steady_clock;
using BatchPlan = std::vector<std::vector<std::int64_t>>;

struct EpochPlan {
  std::int64_t epoch = 0;
  BatchPlan batches;
};

// A finished plan position: the batch, or the error that replaced it.
struct Produced {
  Batch batch;
  std::exception_ptr error;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void shuffle_indices(std::vector<std::int64_t>& v, Generator& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.next_u64() % i]);
}

void shuffle_batches(BatchPlan& v, Generator& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.next_u64() % i]);
}

// The index groups of the dataset, in index order: one group, or (portrait and square, landscape).
std::vector<std::vector<std::int64_t>> index_groups(std::int64_t dataset_size, AspectGrouping group,
                                                    std::span<const float> aspect) {
  if (group == AspectGrouping::Off) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(dataset_size));
    for (std::int64_t i = 0; i < dataset_size; ++i) all[static_cast<std::size_t>(i)] = i;
    return {std::move(all)};
  }
  std::vector<std::vector<std::int64_t>> groups(2);
  for (std::int64_t i = 0; i < dataset_size; ++i) {
    const bool landscape = aspect[static_cast<std::size_t>(i)] > 1.0f;
    groups[landscape ? 1 : 0].push_back(i);
  }
  return groups;
}

// The images of one batch across all shards.
std::int64_t global_batch_size(const LoaderConfig& config) {
  return static_cast<std::int64_t>(config.batch_size) * config.shards;
}

// Batches of global_batch_size cut from a group, the last one short unless dropped.
std::int64_t batches_cut(std::int64_t group_size, const LoaderConfig& config) {
  const std::int64_t full = group_size / global_batch_size(config);
  return full + (config.drop_last == DropLast::Off && group_size % global_batch_size(config) > 0 ? 1 : 0);
}

// Those the shards keep: a short batch with fewer images than shards is dropped.
std::int64_t batches_in_group(std::int64_t group_size, const LoaderConfig& config) {
  const std::int64_t rest = group_size % global_batch_size(config);
  return batches_cut(group_size, config) - (config.drop_last == DropLast::Off && rest > 0 && rest < config.shards);
}

void check_config(std::int64_t dataset_size, const LoaderConfig& config, std::span<const float> aspect) {
  GHM_CHECK(dataset_size >= 0, "data loader: dataset size ", dataset_size, " is negative");
  GHM_CHECK(config.batch_size >= 1, "data loader: batch_size ", config.batch_size, " is less than 1");
  GHM_CHECK(config.workers >= 0, "data loader: workers ", config.workers, " is negative");
  GHM_CHECK(config.prefetch_batches >= 1, "data loader: prefetch_batches ", config.prefetch_batches,
            " is less than 1");
  GHM_CHECK(config.size_divisor >= 1, "data loader: size_divisor ", config.size_divisor, " is less than 1");
  GHM_CHECK(config.shards >= 1 && config.shard >= 0 && config.shard < config.shards, "data loader: shard ",
            config.shard, " of ", config.shards, " shards is not one of them");
  if (config.group == AspectGrouping::ByAspect || !aspect.empty())
    GHM_CHECK(static_cast<std::int64_t>(aspect.size()) == dataset_size, "data loader: ", aspect.size(),
              " aspect ratios for a dataset of ", dataset_size, " (grouping by aspect needs one per index)");
  for (std::size_t i = 0; i < aspect.size(); ++i)
    GHM_CHECK(aspect[i] > 0 && std::isfinite(aspect[i]), "data loader: aspect ratio ", aspect[i], " of index ", i,
              " is not a positive finite width / height");
}

void check_sample(const Sample& s) {
  check_defined(s.image, "data loader", "sample image");
  check_dtype(s.image, DType::F32, "data loader", "sample image");
  GHM_CHECK(s.image.device().is_cpu(), "data loader: sample image is on ", s.image.device(), ", expected the CPU");
  GHM_CHECK(s.image.dim() == 3 && s.image.size(0) == 3 && s.image.size(1) > 0 && s.image.size(2) > 0,
            "data loader: sample image must be [3, H, W] with H, W > 0, got ", s.image.shape());
  check_defined(s.boxes, "data loader", "sample boxes");
  check_dtype(s.boxes, DType::F32, "data loader", "sample boxes");
  GHM_CHECK(s.boxes.dim() == 2 && s.boxes.size(1) == 4, "data loader: sample boxes must be [G, 4], got ",
            s.boxes.shape());
  check_defined(s.labels, "data loader", "sample labels");
  check_dtype(s.labels, DType::I64, "data loader", "sample labels");
  GHM_CHECK(s.labels.dim() == 1 && s.labels.size(0) == s.boxes.size(0), "data loader: sample labels must be [G] for ",
            s.boxes.size(0), " boxes, got ", s.labels.shape());
  check_defined(s.crowd_boxes, "data loader", "sample crowd_boxes");
  check_dtype(s.crowd_boxes, DType::F32, "data loader", "sample crowd_boxes");
  GHM_CHECK(s.crowd_boxes.dim() == 2 && s.crowd_boxes.size(1) == 4,
            "data loader: sample crowd_boxes must be [C, 4], got ", s.crowd_boxes.shape());
}

}  // namespace

std::uint64_t derive_seed(std::uint64_t parent, std::uint64_t child) {
  // SplitMix64's output function applied to one step of its Weyl sequence from `parent`.
  std::uint64_t z = parent + (child + 1) * kGoldenGamma;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t sample_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t index) {
  return derive_seed(derive_seed(derive_seed(seed, kSampleStream), static_cast<std::uint64_t>(epoch)),
                     static_cast<std::uint64_t>(index));
}

std::vector<std::vector<std::int64_t>> plan_epoch(std::int64_t dataset_size, const LoaderConfig& config,
                                                  std::span<const float> aspect, std::int64_t epoch) {
  check_config(dataset_size, config, aspect);
  Generator rng(derive_seed(derive_seed(config.seed, kOrderStream), static_cast<std::uint64_t>(epoch)));
  BatchPlan batches;
  for (std::vector<std::int64_t>& group : index_groups(dataset_size, config.group, aspect)) {
    if (config.shuffle == Shuffle::On) shuffle_indices(group, rng);
    const auto size = static_cast<std::int64_t>(group.size());
    for (std::int64_t b = 0; b < batches_cut(size, config); ++b) {
      const std::int64_t begin = b * global_batch_size(config);
      const std::int64_t end = std::min(size, begin + global_batch_size(config));
      batches.emplace_back(group.begin() + begin, group.begin() + end);
    }
  }
  if (config.group == AspectGrouping::ByAspect) {
    if (config.shuffle == Shuffle::On)
      shuffle_batches(batches, rng);
    else
      std::sort(batches.begin(), batches.end(), [](const auto& a, const auto& b) { return a.front() < b.front(); });
  }
  if (config.shards > 1) {  // dropped after the shuffle, which so stays that of one process
    std::erase_if(batches, [&](const auto& batch) { return batch.size() < static_cast<std::size_t>(config.shards); });
    for (std::vector<std::int64_t>& batch : batches) {
      const auto length = static_cast<std::int64_t>(batch.size());
      const std::int64_t begin = config.shard * length / config.shards;
      const std::int64_t end = (config.shard + 1) * length / config.shards;
      batch = std::vector<std::int64_t>(batch.begin() + begin, batch.begin() + end);
    }
  }
  return batches;
}

Batch collate(std::vector<Sample> samples, int size_divisor) {
  GHM_CHECK(!samples.empty(), "collate: no samples");
  std::int64_t max_h = 0, max_w = 0;
  for (const Sample& s : samples) {
    check_sample(s);
    max_h = std::max(max_h, s.image.size(1));
    max_w = std::max(max_w, s.image.size(2));
  }
  const std::int64_t n = static_cast<std::int64_t>(samples.size());
  const std::int64_t hp = padded_size(max_h, size_divisor);
  const std::int64_t wp = padded_size(max_w, size_divisor);
  Batch batch;
  batch.images = Tensor::empty(Shape{n, 3, hp, wp});  // [N, 3, Hp, Wp]
  float* images = batch.images.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    Sample& s = samples[static_cast<std::size_t>(i)];
    const std::int64_t h = s.image.size(1), w = s.image.size(2);
    const float* src = s.image.data<float>();  // [3, H, W]
    for (std::int64_t c = 0; c < 3; ++c) {
      float* plane = images + (i * 3 + c) * hp * wp;  // [Hp, Wp]
      for (std::int64_t y = 0; y < h; ++y) {
        std::memcpy(plane + y * wp, src + (c * h + y) * w, static_cast<std::size_t>(w) * sizeof(float));
        std::fill(plane + y * wp + w, plane + (y + 1) * wp, 0.0f);
      }
      std::fill(plane + h * wp, plane + hp * wp, 0.0f);
    }
    s.image = Tensor();
  }
  batch.samples = std::move(samples);
  return batch;
}

struct DataLoader::State {
  State(std::int64_t size, SampleFn fn, LoaderConfig cfg, std::vector<float> ratios)
      : dataset_size(size), load(std::move(fn)), config(cfg), aspect(std::move(ratios)) {}

  // Loads and collates plan position `position`. Returns nullopt when the loader stops or the
  // generation changes before the batch is complete.
  std::optional<Produced> produce(const EpochPlan& plan, std::int64_t position, std::uint64_t gen) {
    Produced out;
    const std::vector<std::int64_t>& indices = plan.batches[static_cast<std::size_t>(position)];
    std::vector<Sample> samples;
    samples.reserve(indices.size());
    std::optional<std::int64_t> loading;  // the index being loaded; none while collating
    try {
      for (const std::int64_t index : indices) {
        if (stopping.load() || generation.load() != gen) return std::nullopt;
        loading = index;
        Generator rng(sample_seed(config.seed, plan.epoch, index));
        samples.push_back(load(index, rng));
        samples.back().index = index;
        check_sample(samples.back());
      }
      loading.reset();
      out.batch = collate(std::move(samples), config.size_divisor);
      out.batch.epoch = plan.epoch;
      out.batch.iteration_in_epoch = position;
    } catch (const std::exception& e) {
      out.error = std::make_exception_ptr(Error(describe_failure(plan, position, loading, e.what())));
    } catch (...) {
      out.error = std::make_exception_ptr(Error(describe_failure(plan, position, loading, "unknown exception")));
    }
    return out;
  }

  static std::string describe_failure(const EpochPlan& plan, std::int64_t position,
                                      std::optional<std::int64_t> index, const char* what) {
    return index ? str_cat("data loader: sample ", *index, " (epoch ", plan.epoch, ", batch ", position,
                           ") failed: ", what)
                 : str_cat("data loader: collating batch ", position, " of epoch ", plan.epoch, " failed: ", what);
  }

  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping.store(true);
    }
    work_available.notify_all();
    for (std::thread& t : threads) t.join();
    threads.clear();
  }

  bool can_claim() const {
    return plan && next_to_claim < static_cast<std::int64_t>(plan->batches.size()) &&
           next_to_claim < next_to_deliver + config.prefetch_batches;
  }

  void worker_loop() {
    for (;;) {
      std::shared_ptr<const EpochPlan> my_plan;
      std::int64_t position = 0;
      std::uint64_t gen = 0;
      {
        std::unique_lock lock(mutex);
        work_available.wait(lock, [&] { return stopping.load() || can_claim(); });
        if (stopping.load()) return;
        my_plan = plan;
        position = next_to_claim++;
        gen = generation.load();
      }
      std::optional<Produced> result = produce(*my_plan, position, gen);
      if (!result) continue;
      {
        std::lock_guard lock(mutex);
        if (gen != generation.load()) continue;  // stale: dropped, freed once the lock is released
        done.emplace(position, std::move(*result));
      }
      batch_done.notify_one();  // the one consumer
    }
  }

  const std::int64_t dataset_size;
  const SampleFn load;
  const LoaderConfig config;
  const std::vector<float> aspect;  // [dataset_size] width / height, or empty
  std::int64_t batches_per_epoch = 0;

  std::mutex mutex;
  std::condition_variable work_available;  // workers: a position can be claimed, or stopping
  std::condition_variable batch_done;      // consumer: a position was deposited
  std::shared_ptr<const EpochPlan> plan;   // the current epoch; null before start_epoch
  std::atomic<std::uint64_t> generation{0};
  std::atomic<bool> stopping{false};
  std::int64_t next_to_claim = 0;
  std::int64_t next_to_deliver = 0;
  std::map<std::int64_t, Produced> done;   // position -> finished batch, current generation only
  std::vector<std::thread> threads;        // [workers]
};

DataLoader::DataLoader(std::int64_t dataset_size, SampleFn load, LoaderConfig config, std::vector<float> aspect) {
  check_config(dataset_size, config, aspect);
  GHM_CHECK(static_cast<bool>(load), "data loader: the sample function is empty");
  state_ = std::make_unique<State>(dataset_size, std::move(load), config, std::move(aspect));
  for (const auto& group : index_groups(dataset_size, config.group, state_->aspect))
    state_->batches_per_epoch += batches_in_group(static_cast<std::int64_t>(group.size()), config);
  state_->threads.reserve(static_cast<std::size_t>(config.workers));
  try {
    for (int i = 0; i < config.workers; ++i) state_->threads.emplace_back([s = state_.get()] { s->worker_loop(); });
  } catch (...) {  // a thread failed to start: stop the ones that did before the state goes away
    state_->stop();
    throw;
  }
}

DataLoader::~DataLoader() { state_->stop(); }

void DataLoader::start_epoch(std::int64_t epoch, std::int64_t skip_batches) {
  State& s = *state_;
  GHM_CHECK(skip_batches >= 0 && skip_batches <= s.batches_per_epoch, "start_epoch: skip_batches ", skip_batches,
            " is outside [0, ", s.batches_per_epoch, "]");
  auto fresh = std::make_shared<EpochPlan>();
  fresh->epoch = epoch;
  fresh->batches = plan_epoch(s.dataset_size, s.config, s.aspect, epoch);
  std::map<std::int64_t, Produced> stale;
  {
    std::lock_guard lock(s.mutex);
    s.generation.fetch_add(1);
    s.plan = std::move(fresh);
    s.next_to_claim = skip_batches;
    s.next_to_deliver = skip_batches;
    stale.swap(s.done);
  }
  s.work_available.notify_all();
}

std::optional<Batch> DataLoader::next() {
  State& s = *state_;
  const Clock::time_point start = Clock::now();
  Produced result;
  if (s.config.workers == 0) {
    GHM_CHECK(s.plan != nullptr, "data loader: next() before start_epoch()");
    if (s.next_to_deliver >= static_cast<std::int64_t>(s.plan->batches.size())) return std::nullopt;
    result = std::move(*s.produce(*s.plan, s.next_to_deliver++, s.generation.load()));
  } else {
    std::unique_lock lock(s.mutex);
    GHM_CHECK(s.plan != nullptr, "data loader: next() before start_epoch()");
    if (s.next_to_deliver >= static_cast<std::int64_t>(s.plan->batches.size())) return std::nullopt;
    s.batch_done.wait(lock, [&] { return s.done.contains(s.next_to_deliver); });
    auto node = s.done.extract(s.next_to_deliver++);
    lock.unlock();
    s.work_available.notify_one();  // one more position became claimable
    result = std::move(node.mapped());
  }
  if (result.error) std::rethrow_exception(result.error);
  result.batch.wait_seconds = seconds_since(start);
  return std::move(result.batch);
}

std::int64_t DataLoader::batches_per_epoch() const { return state_->batches_per_epoch; }

}  // namespace ghm::io
