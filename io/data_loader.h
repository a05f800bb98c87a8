// DataLoader: turns a dataset (a function from an index to a transformed Sample) into padded
// batches, with worker threads, a bounded prefetch queue, per-epoch shuffling, optional
// aspect-ratio grouping, and output that depends only on the seed, never on thread timing.
//
// Determinism. An epoch's batches (which indices, in which order) are a pure function of
// (dataset size, config, aspect ratios, seed, epoch): `plan_epoch`. Sample `index` of epoch `e`
// is loaded with a Generator seeded by sample_seed(seed, e, index), whatever thread loads it and
// whenever. Each batch is produced whole by one worker and handed to the consumer strictly in
// plan order, so 0, 1 or 8 workers give bit-identical batches.
//
// Plans. Without grouping, the indices 0..N-1 (shuffled per epoch when Shuffle::On) are cut into
// consecutive batches. With AspectGrouping::ByAspect (mmdetection's GroupSampler) landscape
// images (width / height > 1) and the others (portrait and square) form two groups; each group is
// shuffled and cut into batches on its own, and the list of batches is then shuffled, so every
// batch holds one orientation. Unshuffled grouped batches are ordered by their first index. The
// last batch of a group may be short (DropLast::Off; every index appears exactly once per epoch)
// or is dropped (DropLast::On). mmdetection instead fills a group's short batch with random
// repeats of the group's images; the number of batches per epoch is the same.
//
// Shards (data-parallel training, one process per shard). With shards = S the plan is made as
// above for batches of S * batch_size, the same on every process, and shard s takes part s of
// each: images [s * L / S, (s + 1) * L / S) of a batch of L, so the shards of a full batch hold
// batch_size images each and together every image of it once. A last batch with fewer images than
// shards is dropped, so that every process runs the same number of iterations.
//
// Threads. `workers` threads each claim the next unclaimed batch of the plan, load its samples
// one by one with the SampleFn, and collate them. At most `prefetch_batches` batches are claimed
// or finished ahead of the consumer; a worker that would exceed that waits. next() waits for the
// next batch in plan order and reports how long it waited (Batch::wait_seconds; near zero when
// the workers keep up, i.e. data is not the bottleneck). With workers = 0, next() loads the batch
// itself and wait_seconds is the whole loading time. The training step runs OpenMP threads on the
// same cores, so on a small machine one or two workers are enough: more only compete with it.
// The SampleFn is called concurrently from the worker threads and must be thread-safe. One
// consumer thread calls start_epoch and next.
//
// Failures and shutdown. An exception thrown while loading or collating a batch (a corrupt image,
// a sample of the wrong shape) is caught in the worker and rethrown by the next() call that
// reaches that batch, as ghm::Error whose message names the sample index and epoch and includes
// the original message; that batch is lost, the following next() continues with the one after.
// start_epoch during an epoch cancels it: workers abandon stale batches between samples and
// their results are discarded. The destructor stops the workers between samples (a SampleFn call
// already running is waited for) and joins them; it never waits for a queue to drain.
//
// Collation. Batch::images is [N, 3, Hp, Wp] f32 with Hp, Wp the batch's largest height and width
// rounded up to `size_divisor`; image n sits at the top-left of its slot and the rest is zero
// (mmdetection's Pad then collate). The samples keep everything else; their image tensors are
// released once copied.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace ghm::io {

struct Sample {                 // one transformed training or evaluation image
  Tensor image;                 // [3, H, W] f32, normalised, unpadded
  Tensor boxes;                 // [G, 4] f32 x1, y1, x2, y2 in input (resized) pixels
  Tensor labels;                // [G] i64 contiguous class labels
  Tensor crowd_boxes;           // [C, 4] f32 ignore regions, C may be 0
  std::int64_t image_id = 0;    // the dataset's own id (e.g. COCO image id)
  std::int64_t index = 0;       // dataset index; set by the loader
  int orig_height = 0, orig_width = 0;  // before resize
  float scale_h = 1, scale_w = 1;       // input = original * scale, per axis
  bool flipped = false;
};

struct Batch {
  Tensor images;                // [N, 3, Hp, Wp] f32, zero-padded at the bottom and right
  std::vector<Sample> samples;  // [N], in batch order; `image` released (undefined)
  double wait_seconds = 0;      // time the consumer spent blocked in next() for this batch
  std::int64_t epoch = 0;
  std::int64_t iteration_in_epoch = 0;  // position of this batch in the epoch's plan
};

// Loads and transforms sample `index`; `rng` is seeded from (seed, epoch, index) and is the only
// randomness the function may use (random scale, flip) for the output to be reproducible.
using SampleFn = std::function<Sample(std::int64_t index, Generator& rng)>;

enum class Shuffle { Off, On };
enum class DropLast { Off, On };
enum class AspectGrouping { Off, ByAspect };

struct LoaderConfig {
  int batch_size = 1;
  int workers = 0;            // threads; 0 loads in the thread that calls next()
  int prefetch_batches = 2;   // batches claimed or ready ahead of the consumer (>= 1; a
                              // worker loads a whole batch, so >= workers keeps all busy)
  Shuffle shuffle = Shuffle::Off;
  std::uint64_t seed = 0;
  DropLast drop_last = DropLast::Off;
  AspectGrouping group = AspectGrouping::Off;
  int size_divisor = 128;     // padded batch sizes are multiples of this
  // Data parallel: this process's part of each batch (see Shards above). shards = 1: the whole batch.
  int shards = 1;
  int shard = 0;              // 0 <= shard < shards
};

// Child seed of `parent` for stream/epoch/index `child`: the SplitMix64 finaliser of
// parent + (child + 1) * golden-ratio constant. Distinct children give unrelated seeds.
std::uint64_t derive_seed(std::uint64_t parent, std::uint64_t child);
// The seed of the Generator handed to the SampleFn for `index` in `epoch`.
std::uint64_t sample_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t index);

// The batches of `epoch` as lists of dataset indices, in delivery order (see the top of this
// file). `aspect` holds width / height per index; it may be empty unless grouping is on.
std::vector<std::vector<std::int64_t>> plan_epoch(std::int64_t dataset_size, const LoaderConfig& config,
                                                  std::span<const float> aspect, std::int64_t epoch);

// Pads and stacks the samples' images into Batch::images (see Collation above) and releases
// them. Throws when a sample's image is not [3, H, W] f32 on the CPU.
Batch collate(std::vector<Sample> samples, int size_divisor);

class DataLoader {
 public:
  // Validates the config (batch_size >= 1, workers >= 0, prefetch_batches >= 1,
  // size_divisor >= 1) and `aspect` (one positive finite ratio per index when grouping; may be
  // empty otherwise) and starts the workers, which wait for start_epoch.
  DataLoader(std::int64_t dataset_size, SampleFn load, LoaderConfig config, std::vector<float> aspect = {});
  ~DataLoader();  // stops and joins the workers
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins `epoch` at batch `skip_batches` of its plan (a resumed run continues with the same
  // remaining batches), cancelling any epoch in progress. 0 <= skip_batches <= batches_per_epoch.
  void start_epoch(std::int64_t epoch, std::int64_t skip_batches = 0);
  // The next batch of the epoch, nullopt after its last one. Throws before the first start_epoch
  // and when the batch failed to load (see Failures above).
  std::optional<Batch> next();
  std::int64_t batches_per_epoch() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ghm::io
