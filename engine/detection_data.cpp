// COCO samples for training and inference (see detection_data.h).
#include "engine/detection_data.h"

#include <cstdio>

#include "core/check.h"
#include "io/image.h"
#include "io/transforms.h"

namespace ghm::engine {

DetectionSource::DetectionSource(coco::Dataset dataset, std::string image_root, const DataConfig& config,
                                 Split split)
    : dataset_(std::move(dataset)),
      image_root_(std::move(image_root)),
      config_(config),
      split_(split),
      skipped_(std::make_unique<std::atomic<std::int64_t>>(0)) {}

std::vector<float> DetectionSource::aspects() const {
  std::vector<float> out;
  out.reserve(dataset_.images.size());
  for (const coco::ImageRecord& im : dataset_.images)
    out.push_back(static_cast<float>(im.width) / static_cast<float>(im.height));
  return out;
}

std::string DetectionSource::image_path(std::int64_t index) const {
  const std::string& name = dataset_.images[static_cast<std::size_t>(index)].file_name;
  if (image_root_.empty() || name.starts_with("/")) return name;
  return image_root_.back() == '/' ? image_root_ + name : image_root_ + "/" + name;
}

io::SampleFn DetectionSource::sample_fn() const {
  return [this](std::int64_t index, Generator& rng) { return load(index, rng); };
}

io::SampleFn DetectionSource::sample_fn_at(int short_side, int max_side) const {
  GHM_CHECK(split_ == Split::Test, "sample_fn_at: only a test split has one size per view");
  return [this, short_side, max_side](std::int64_t index, Generator& rng) {
    return load_sized(index, rng, {short_side, max_side});
  };
}

io::Sample DetectionSource::load(std::int64_t index, Generator& rng) const { return load_sized(index, rng, {}); }

io::Sample DetectionSource::load_sized(std::int64_t index, Generator& rng, Size view) const {
  if (!config_.skip_bad_images) return load_one(index, rng, view);
  for (std::int64_t attempt = 0; attempt < size(); ++attempt) {
    const std::int64_t i = (index + attempt) % size();
    try {
      io::Sample s = load_one(i, rng, view);
      s.index = index;
      return s;
    } catch (const std::exception& e) {
      skipped_->fetch_add(1);
      std::fprintf(stderr, "warning: skipping image %lld: %s\n", static_cast<long long>(i), e.what());
    }
  }
  GHM_FAIL("no image of ", dataset_.path, " could be read");
}

io::Sample DetectionSource::load_one(std::int64_t index, Generator& rng, Size view) const {
  const coco::ImageRecord& record = dataset_.images[static_cast<std::size_t>(index)];
  const std::string path = image_path(index);
  io::Image image = io::read_image(path);
  GHM_CHECK(image.height == record.height && image.width == record.width, path, ": the image is ", image.width, "x",
            image.height, " but ", dataset_.path, " says ", record.width, "x", record.height);

  const bool train = split_ == Split::Train;
  const int short_side = train              ? io::choose_short_side(config_.train_short_sides, rng)
                         : view.short_side > 0 ? view.short_side
                                               : config_.test_short_side;
  const int max_side = view.max_side > 0 ? view.max_side : config_.max_side;
  const io::RescaledSize size = io::rescale_size(image.height, image.width, short_side, max_side);
  if (size.height != image.height || size.width != image.width)
    image = io::resize_bilinear(image, size.height, size.width);
  const bool flip = train && config_.flip > 0 && rng.uniform() < config_.flip;
  if (flip) io::flip_horizontal(image);

  std::vector<io::Box> boxes, crowd;
  std::vector<std::int64_t> labels;
  for (const coco::BoxRecord& b : dataset_.boxes_of(record)) {
    const io::Box box{b.x, b.y, b.x + b.w, b.y + b.h};
    if (b.iscrowd) {
      crowd.push_back(box);
    } else {
      boxes.push_back(box);
      labels.push_back(b.label);
    }
  }
  for (auto* list : {&boxes, &crowd}) {
    io::rescale_boxes(*list, size);
    if (flip) io::flip_boxes_horizontal(*list, size.width);
  }

  io::Sample s;
  s.image = io::normalize(image, config_.mean, config_.std, io::ChannelOrder::RGB);
  s.boxes = io::boxes_to_tensor(boxes);
  s.labels = Tensor::from_vector(labels, {static_cast<std::int64_t>(labels.size())});
  s.crowd_boxes = io::boxes_to_tensor(crowd);
  s.image_id = record.id;
  s.index = index;
  s.orig_height = record.height;
  s.orig_width = record.width;
  s.scale_h = size.scale_h;
  s.scale_w = size.scale_w;
  s.flipped = flip;
  return s;
}

detection::ImageSize input_size(const io::Sample& sample) {
  return {static_cast<std::int64_t>(static_cast<float>(sample.orig_height) * sample.scale_h + 0.5f),
          static_cast<std::int64_t>(static_cast<float>(sample.orig_width) * sample.scale_w + 0.5f)};
}

double resize_factor(const io::Sample& sample) {
  return 0.5 * (static_cast<double>(sample.scale_h) + static_cast<double>(sample.scale_w));
}

std::vector<detection::ImageGroundTruth> ground_truth(const io::Batch& batch) {
  std::vector<detection::ImageGroundTruth> out;
  for (const io::Sample& s : batch.samples) out.push_back({s.boxes, s.labels, s.crowd_boxes, input_size(s)});
  return out;
}

io::LoaderConfig train_loader_config(const DataConfig& data, const TrainConfig& train) {
  io::LoaderConfig lc;
  lc.batch_size = train.batch_size;
  lc.workers = data.workers;
  lc.prefetch_batches = data.prefetch;
  lc.shuffle = io::Shuffle::On;
  lc.seed = train.seed;
  lc.group = data.group_by_aspect ? io::AspectGrouping::ByAspect : io::AspectGrouping::Off;
  lc.size_divisor = data.size_divisor;
  return lc;
}

detection::TargetConfig target_config(const DataConfig& data, const TrainConfig& train) {
  detection::TargetConfig t;
  t.assigner = train.assigner;
  t.size_divisor = data.size_divisor;
  return t;
}

coco::Dataset load_split(const std::string& json_path, const DataConfig& config, Split split) {
  GHM_CHECK(!json_path.empty(), "data: no ", split == Split::Train ? "train_json" : "val_json",
            " is configured (set data.root and data.", split == Split::Train ? "train_json" : "val_json", ")");
  coco::LoadOptions options;
  options.empty_images = split == Split::Train && config.filter_empty ? coco::EmptyImages::Drop : coco::EmptyImages::Keep;
  coco::Dataset d = coco::load_dataset(json_path, options);
  GHM_CHECK(!d.images.empty(), json_path, ": no images", split == Split::Train && config.filter_empty ? " with boxes" : "");
  return d;
}

}  // namespace ghm::engine
