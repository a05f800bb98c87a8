// A COCO split as the detector's samples: image file -> decode -> resize (shorter side, longest
// side capped) -> random horizontal flip (training) -> normalised [3, H, W] tensor, with the boxes
// moved along (mmdetection v2's LoadImage, LoadAnnotations, Resize(keep_ratio), RandomFlip,
// Normalize; padding is the loader's collate).
//
// Boxes: COCO [x, y, w, h] -> (x, y, x + w, y + h) as mmdetection v2, scaled by the per-axis
// resize factors and clipped to the resized image, flipped with the image. Non-crowd boxes are
// targets (labels = the contiguous class index); crowd boxes go to crowd_boxes (ignore regions).
//
// Randomness (the training short side, the flip) comes from the sample's own generator, which the
// loader seeds from (seed, epoch, index): a sample is the same whatever thread loads it.
//
// A missing or corrupt image is an error naming the file, or, with data.skip_bad_images, a
// warning, and the next image of the split (in index order) is loaded in its place, as
// mmdetection does with another index.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "detection/iou.h"
#include "detection/targets.h"
#include "coco/dataset.h"
#include "io/data_loader.h"

namespace ghm::engine {

enum class Split { Train, Test };

class DetectionSource {
 public:
  DetectionSource(coco::Dataset dataset, std::string image_root, const DataConfig& config, Split split);

  std::int64_t size() const { return static_cast<std::int64_t>(dataset_.images.size()); }
  const coco::Dataset& dataset() const { return dataset_; }
  std::vector<float> aspects() const;  // width / height per index
  std::string image_path(std::int64_t index) const;

  io::Sample load(std::int64_t index, Generator& rng) const;
  io::SampleFn sample_fn() const;  // calls load; the source must outlive the loader
  // A test split's samples resized to another short side and longest-side cap (the views of
  // test-time augmentation, engine/test_time_augmentation.h).
  io::SampleFn sample_fn_at(int short_side, int max_side) const;
  std::int64_t skipped_images() const { return skipped_->load(); }

 private:
  struct Size {
    int short_side = 0, max_side = 0;  // 0: the config's
  };
  io::Sample load_sized(std::int64_t index, Generator& rng, Size view) const;
  io::Sample load_one(std::int64_t index, Generator& rng, Size view) const;

  coco::Dataset dataset_;
  std::string image_root_;
  DataConfig config_;
  Split split_;
  std::unique_ptr<std::atomic<std::int64_t>> skipped_;
};

// The network-input (resized, unpadded) size of a sample: round(original * scale) per axis, as
// io::rescale_size computes it.
detection::ImageSize input_size(const io::Sample& sample);

// The one factor a detector divides its boxes by to return to original pixels: the mean of the two
// axes' (they differ only by the rounding of the resized size).
double resize_factor(const io::Sample& sample);

// The ground truth of a batch's images in network-input pixels (after resize and flip).
std::vector<detection::ImageGroundTruth> ground_truth(const io::Batch& batch);

// The training loader's settings (shuffled per epoch from the seed, grouped by aspect when asked)
// and the anchor-assignment settings, as the trainer uses them.
io::LoaderConfig train_loader_config(const DataConfig& data, const TrainConfig& train);
detection::TargetConfig target_config(const DataConfig& data, const TrainConfig& train);

// Loads a split's JSON (filtering images without boxes when asked, for training only).
coco::Dataset load_split(const std::string& json_path, const DataConfig& config, Split split);

}  // namespace ghm::engine
