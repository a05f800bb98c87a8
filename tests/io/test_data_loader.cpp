// Tests for io/data_loader: epoch plans (each index once, shuffles per epoch and seed, drop_last,
// aspect grouping), the padded batch layout, bit-identical batches with 0, 1 and 4 workers,
// resuming mid-epoch, cancelling an epoch, errors from the sample function reaching next() with
// their message, and prompt shutdown with workers busy or blocked on a full queue. Samples are
// synthetic (built in memory from the index and the sample's generator), so no files are read.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "io/data_loader.h"

using ghm::Generator;
using ghm::Shape;
using ghm::Tensor;
using ghm::io::AspectGrouping;
using ghm::io::Batch;
using ghm::io::DataLoader;
using ghm::io::DropLast;
using ghm::io::LoaderConfig;
using ghm::io::Sample;
using ghm::io::Shuffle;

namespace {

int height_of(std::int64_t index) { return 9 + static_cast<int>(index * 7 % 13); }
int width_of(std::int64_t index) { return 5 + static_cast<int>(index * 5 % 17); }

// A sample whose image, boxes and label depend on the index and on every draw from `rng`, so a
// wrong seed or a sample in the wrong slot changes the batch.
Sample synthetic_sample(std::int64_t index, Generator& rng) {
  const int h = height_of(index), w = width_of(index);
  Sample s;
  s.image = Tensor::empty(Shape{3, h, w});
  float* p = s.image.data<float>();
  for (std::int64_t i = 0; i < s.image.numel(); ++i) p[i] = static_cast<float>(index) + rng.uniform();
  s.boxes = Tensor::from_vector<float>({rng.uniform(0, 4), rng.uniform(0, 4), rng.uniform(5, 9), rng.uniform(5, 9)},
                                       Shape{1, 4});
  s.labels = Tensor::from_vector<std::int64_t>({index % 5}, Shape{1});
  s.crowd_boxes = Tensor::zeros(Shape{0, 4});
  s.image_id = 1000 + index;
  s.orig_height = h;
  s.orig_width = w;
  s.flipped = rng.uniform() < 0.5f;
  return s;
}

LoaderConfig config_with(int batch_size, int workers, Shuffle shuffle = Shuffle::On) {
  LoaderConfig c;
  c.batch_size = batch_size;
  c.workers = workers;
  c.prefetch_batches = 2;
  c.shuffle = shuffle;
  c.seed = 42;
  c.size_divisor = 8;
  return c;
}

std::vector<Batch> drain(DataLoader& loader) {
  std::vector<Batch> out;
  while (std::optional<Batch> b = loader.next()) out.push_back(std::move(*b));
  return out;
}

std::vector<std::int64_t> indices_of(const Batch& b) {
  std::vector<std::int64_t> out;
  for (const Sample& s : b.samples) out.push_back(s.index);
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
}

// Batches equal bit for bit: images, every sample tensor and field, epoch and position.
void check_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i].epoch == b[i].epoch);
    CHECK(a[i].iteration_in_epoch == b[i].iteration_in_epoch);
    CHECK(indices_of(a[i]) == indices_of(b[i]));
    CHECK(same_bits(a[i].images, b[i].images));
    REQUIRE(a[i].samples.size() == b[i].samples.size());
    for (std::size_t j = 0; j < a[i].samples.size(); ++j) {
      const Sample& x = a[i].samples[j];
      const Sample& y = b[i].samples[j];
      CHECK(same_bits(x.boxes, y.boxes));
      CHECK(same_bits(x.labels, y.labels));
      CHECK(same_bits(x.crowd_boxes, y.crowd_boxes));
      CHECK(x.flipped == y.flipped);
      CHECK(x.image_id == y.image_id);
    }
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("plan_epoch: each index once, shuffled per epoch and seed, short or dropped last batch") {
  const std::int64_t n = 23;
  LoaderConfig c = config_with(4, 0);
  const auto plan0 = ghm::io::plan_epoch(n, c, {}, 0);
  REQUIRE(plan0.size() == 6);  // ceil(23 / 4)
  std::multiset<std::int64_t> seen;
  for (const auto& batch : plan0) seen.insert(batch.begin(), batch.end());
  CHECK(seen.size() == static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) CHECK(seen.count(i) == 1);
  CHECK(plan0.back().size() == 3);

  CHECK(ghm::io::plan_epoch(n, c, {}, 0) == plan0);  // a pure function of (seed, epoch)
  CHECK(ghm::io::plan_epoch(n, c, {}, 1) != plan0);
  LoaderConfig other_seed = c;
  other_seed.seed = 43;
  CHECK(ghm::io::plan_epoch(n, other_seed, {}, 0) != plan0);

  c.drop_last = DropLast::On;
  const auto dropped = ghm::io::plan_epoch(n, c, {}, 0);
  CHECK(dropped.size() == 5);
  for (const auto& batch : dropped) CHECK(batch.size() == 4);

  const auto ordered = ghm::io::plan_epoch(n, config_with(4, 0, Shuffle::Off), {}, 3);
  CHECK(ordered.front() == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(ordered.back() == std::vector<std::int64_t>{20, 21, 22});
}

TEST_CASE("plan_epoch: aspect grouping keeps landscape and the others apart") {
  const std::int64_t n = 41;
  std::vector<float> aspect(n);
  for (std::int64_t i = 0; i < n; ++i)
    aspect[static_cast<std::size_t>(i)] = i % 3 == 0 ? 0.75f : (i % 3 == 1 ? 1.5f : 1.0f);  // square counts as portrait
  LoaderConfig c = config_with(4, 0);
  c.group = AspectGrouping::ByAspect;
  for (const Shuffle shuffle : {Shuffle::On, Shuffle::Off}) {
    c.shuffle = shuffle;
    const auto plan = ghm::io::plan_epoch(n, c, aspect, 5);
    // 14 landscape -> 4 batches; 27 others -> 7 batches.
    CHECK(plan.size() == 11);
    std::multiset<std::int64_t> seen;
    for (const auto& batch : plan) {
      const bool landscape = aspect[static_cast<std::size_t>(batch.front())] > 1.0f;
      for (const std::int64_t i : batch) CHECK((aspect[static_cast<std::size_t>(i)] > 1.0f) == landscape);
      seen.insert(batch.begin(), batch.end());
    }
    for (std::int64_t i = 0; i < n; ++i) CHECK(seen.count(i) == 1);
  }
  DataLoader loader(n, synthetic_sample, c, aspect);
  CHECK(loader.batches_per_epoch() == 11);
  CHECK_THROWS_WITH(DataLoader(n, synthetic_sample, c, {}), doctest::Contains("0 aspect ratios for a dataset of 41"));
  aspect[3] = -1;
  CHECK_THROWS_WITH(ghm::io::plan_epoch(n, c, aspect, 0), doctest::Contains("aspect ratio -1 of index 3"));
}

TEST_CASE("plan_epoch: shards split each batch of shards x batch_size, together the one-process plan") {
  const std::int64_t n = 41;
  std::vector<float> aspect(n);
  for (std::int64_t i = 0; i < n; ++i) aspect[static_cast<std::size_t>(i)] = i % 3 == 1 ? 1.5f : 0.75f;
  for (const int shards : {2, 3}) {
    for (const AspectGrouping group : {AspectGrouping::Off, AspectGrouping::ByAspect}) {
      LoaderConfig whole = config_with(2 * shards, 0);  // one process, the global batch
      whole.group = group;
      const auto plan = ghm::io::plan_epoch(n, whole, aspect, 4);
      std::vector<std::vector<std::vector<std::int64_t>>> parts;
      for (int s = 0; s < shards; ++s) {
        LoaderConfig part = config_with(2, 0);
        part.group = group;
        part.shards = shards;
        part.shard = s;
        parts.push_back(ghm::io::plan_epoch(n, part, aspect, 4));
        CHECK(DataLoader(n, synthetic_sample, part, aspect).batches_per_epoch() ==
              static_cast<std::int64_t>(parts.back().size()));
      }
      // The same batches, in the same order, as one process with the global batch, except a last
      // batch smaller than the number of shards, which the shards drop.
      std::size_t b = 0;
      for (const auto& batch : plan) {
        if (batch.size() < static_cast<std::size_t>(shards)) continue;
        std::vector<std::int64_t> joined;
        for (int s = 0; s < shards; ++s) {
          REQUIRE(b < parts[s].size());
          const auto& mine = parts[s][b];
          CHECK(!mine.empty());
          if (batch.size() == static_cast<std::size_t>(2 * shards)) CHECK(mine.size() == 2);
          joined.insert(joined.end(), mine.begin(), mine.end());
        }
        CHECK(joined == batch);
        ++b;
      }
      for (int s = 0; s < shards; ++s) CHECK(parts[s].size() == b);
    }
  }
  LoaderConfig bad = config_with(2, 0);
  bad.shards = 2;
  bad.shard = 2;
  CHECK_THROWS_WITH(ghm::io::plan_epoch(n, bad, {}, 0), doctest::Contains("shard 2 of 2 shards is not one of them"));
}

TEST_CASE("collate: images at the top-left of a zero slot rounded up to the divisor") {
  Generator rng(0);
  std::vector<Sample> samples = {synthetic_sample(1, rng), synthetic_sample(2, rng)};  // 16 x 10 and 10 x 15
  const Tensor first = samples[0].image.clone(), second = samples[1].image.clone();
  const Batch batch = ghm::io::collate(std::move(samples), 8);
  REQUIRE(batch.images.shape() == Shape{2, 3, 16, 16});
  const float* images = batch.images.data<float>();
  for (int n = 0; n < 2; ++n) {
    const Tensor& src = n == 0 ? first : second;
    const std::int64_t h = src.size(1), w = src.size(2);
    const float* s = src.data<float>();
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x) {
          const float got = images[((n * 3 + c) * 16 + y) * 16 + x];
          if (y < h && x < w)
            CHECK(got == s[(c * h + y) * w + x]);
          else
            CHECK(got == 0.0f);
        }
    CHECK_FALSE(batch.samples[static_cast<std::size_t>(n)].image.defined());
  }
  std::vector<Sample> wrong = {synthetic_sample(1, rng)};
  wrong[0].image = Tensor::zeros(Shape{4, 5, 5});
  CHECK_THROWS_WITH(ghm::io::collate(std::move(wrong), 8), doctest::Contains("[3, H, W]"));
}

TEST_CASE("DataLoader: the same batches, bit for bit, with 0, 1 and 4 workers") {
  const std::int64_t n = 37;
  std::vector<std::vector<Batch>> runs;
  for (const int workers : {0, 1, 4}) {
    DataLoader loader(n, synthetic_sample, config_with(3, workers));
    CHECK(loader.batches_per_epoch() == 13);
    loader.start_epoch(2);
    runs.push_back(drain(loader));
    CHECK_FALSE(loader.next().has_value());  // stays at the end
  }
  REQUIRE(runs[0].size() == 13);
  check_same_batches(runs[0], runs[1]);
  check_same_batches(runs[0], runs[2]);

  std::multiset<std::int64_t> seen;
  for (std::size_t i = 0; i < runs[0].size(); ++i) {
    const Batch& b = runs[0][i];
    CHECK(b.epoch == 2);
    CHECK(b.iteration_in_epoch == static_cast<std::int64_t>(i));
    CHECK(b.wait_seconds >= 0);
    CHECK(b.images.size(2) % 8 == 0);
    CHECK(b.images.size(3) % 8 == 0);
    for (const Sample& s : b.samples) {
      seen.insert(s.index);
      CHECK(s.image_id == 1000 + s.index);
      CHECK(s.orig_height == height_of(s.index));
    }
  }
  for (std::int64_t i = 0; i < n; ++i) CHECK(seen.count(i) == 1);

  // Another epoch: another order and other random draws for the same index.
  DataLoader loader(n, synthetic_sample, config_with(3, 2));
  loader.start_epoch(3);
  const std::vector<Batch> epoch3 = drain(loader);
  REQUIRE(epoch3.size() == runs[0].size());
  bool order_differs = false;
  for (std::size_t i = 0; i < epoch3.size(); ++i) order_differs |= indices_of(epoch3[i]) != indices_of(runs[0][i]);
  CHECK(order_differs);
  CHECK(ghm::io::sample_seed(42, 2, 5) != ghm::io::sample_seed(42, 3, 5));
  CHECK(ghm::io::sample_seed(42, 2, 5) != ghm::io::sample_seed(42, 2, 6));
  CHECK(ghm::io::sample_seed(42, 2, 5) != ghm::io::sample_seed(43, 2, 5));
}

TEST_CASE("DataLoader: skip_batches resumes with the same remaining batches, start_epoch cancels") {
  const std::int64_t n = 30;
  for (const int workers : {0, 3}) {
    CAPTURE(workers);
    DataLoader loader(n, synthetic_sample, config_with(4, workers));
    loader.start_epoch(1);
    const std::vector<Batch> full = drain(loader);
    REQUIRE(full.size() == 8);

    loader.start_epoch(1, 5);
    const std::vector<Batch> rest = drain(loader);
    check_same_batches(rest, std::vector<Batch>(full.begin() + 5, full.end()));

    loader.start_epoch(1, 8);
    CHECK_FALSE(loader.next().has_value());
    CHECK_THROWS_WITH(loader.start_epoch(1, 9), doctest::Contains("skip_batches 9 is outside [0, 8]"));

    // Half of epoch 0, then epoch 1 from the start: exactly epoch 1's batches.
    loader.start_epoch(0);
    REQUIRE(loader.next().has_value());
    REQUIRE(loader.next().has_value());
    loader.start_epoch(1);
    check_same_batches(drain(loader), full);
  }
}

TEST_CASE("DataLoader: a failing sample reaches next() with its message, the epoch goes on") {
  auto failing = [](std::int64_t index, Generator& rng) -> Sample {
    if (index == 13) throw std::runtime_error("corrupt image 000000000013.jpg");
    return synthetic_sample(index, rng);
  };
  for (const int workers : {0, 1, 3}) {
    CAPTURE(workers);
    DataLoader loader(20, failing, config_with(2, workers, Shuffle::Off));
    loader.start_epoch(0);
    int delivered = 0;
    bool failed = false;
    for (int i = 0; i < 10; ++i) {
      try {
        if (loader.next()) ++delivered;
      } catch (const std::exception& e) {
        const std::string message = e.what();
        CHECK(message.find("corrupt image 000000000013.jpg") != std::string::npos);
        CHECK(message.find("sample 13 (epoch 0, batch 6)") != std::string::npos);
        failed = true;
      }
    }
    CHECK(failed);
    CHECK(delivered == 9);
    CHECK_FALSE(loader.next().has_value());
  }

  auto misshapen = [](std::int64_t index, Generator& rng) {
    Sample s = synthetic_sample(index, rng);
    if (index == 3) s.labels = Tensor::zeros(Shape{2}, ghm::DType::I64);
    return s;
  };
  DataLoader loader(4, misshapen, config_with(4, 2, Shuffle::Off));
  loader.start_epoch(0);
  CHECK_THROWS_WITH(loader.next(), doctest::Contains("sample 3"));
}

TEST_CASE("DataLoader: shuts down promptly with workers busy or blocked on a full queue") {
  std::atomic<int> loads{0};
  auto slow = [&loads](std::int64_t index, Generator& rng) {
    ++loads;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    return synthetic_sample(index, rng);
  };
  LoaderConfig c = config_with(2, 4);
  c.prefetch_batches = 1;

  const auto start = std::chrono::steady_clock::now();
  {
    DataLoader loader(10000, slow, c);
    loader.start_epoch(0);
    REQUIRE(loader.next().has_value());
    // The queue refills (one batch) and the other workers block on it.
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  {
    DataLoader busy(10000, slow, c);  // destroyed while loading the first batches
    busy.start_epoch(0);
  }
  { DataLoader idle(10000, slow, c); }  // never started
  // Each loader stops after at most one sample per worker (3 ms); a second is generous.
  CHECK(seconds_since(start) < 1.0);
  // prefetch_batches = 1: at most the batch in the consumer's hands, one ready, and those being
  // abandoned between samples.
  CHECK(loads.load() < 40);
}

TEST_CASE("DataLoader: rejects bad configs and next() before start_epoch") {
  CHECK_THROWS_WITH(DataLoader(5, synthetic_sample, config_with(0, 0)), doctest::Contains("batch_size 0"));
  CHECK_THROWS_WITH(DataLoader(5, synthetic_sample, config_with(1, -1)), doctest::Contains("workers -1"));
  LoaderConfig c = config_with(1, 1);
  c.prefetch_batches = 0;
  CHECK_THROWS_WITH(DataLoader(5, synthetic_sample, c), doctest::Contains("prefetch_batches 0"));
  CHECK_THROWS_WITH(DataLoader(5, ghm::io::SampleFn{}, config_with(1, 0)), doctest::Contains("sample function"));
  for (const int workers : {0, 2}) {
    DataLoader loader(5, synthetic_sample, config_with(2, workers));
    CHECK_THROWS_WITH(loader.next(), doctest::Contains("before start_epoch"));
  }
  DataLoader empty(0, synthetic_sample, config_with(2, 1));
  CHECK(empty.batches_per_epoch() == 0);
  empty.start_epoch(0);
  CHECK_FALSE(empty.next().has_value());
}
