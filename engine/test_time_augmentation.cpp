// Test-time augmentation: views, mirroring and fusion (see test_time_augmentation.h).
#include "engine/test_time_augmentation.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "detection/box_fusion.h"
#include "engine/detection_data.h"

namespace ghm::engine {

std::vector<TestScale> test_scales(const TestConfig& test, const DataConfig& data) {
  std::vector<TestScale> out;
  const std::vector<int> sides = test.short_sides.empty() ? std::vector<int>{data.test_short_side} : test.short_sides;
  for (const int side : sides) {
    const double cap = std::round(static_cast<double>(data.max_side) * side / data.test_short_side);
    const TestScale s{side, std::max(1, static_cast<int>(cap))};
    const bool seen = std::any_of(out.begin(), out.end(), [&](const TestScale& t) { return t.short_side == side; });
    if (!seen) out.push_back(s);
  }
  return out;
}

int view_count(const TestConfig& test, const DataConfig& data) {
  return static_cast<int>(test_scales(test, data).size()) * (test.flip ? 2 : 1);
}

bool plain_inference(const TestConfig& test, const DataConfig& data) {
  const std::vector<TestScale> scales = test_scales(test, data);
  return !test.flip && scales.size() == 1 && scales[0].short_side == data.test_short_side;
}

io::Batch mirrored(const io::Batch& batch) {
  io::Batch out;
  out.samples = batch.samples;
  out.epoch = batch.epoch;
  out.iteration_in_epoch = batch.iteration_in_epoch;
  const Tensor images = batch.images.to(Device::cpu());  // [N, C, Hp, Wp]
  out.images = Tensor::zeros(images.shape());
  const std::int64_t n = images.size(0), c = images.size(1), hp = images.size(2), wp = images.size(3);
  const float* src = images.data<float>();
  float* dst = out.images.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const detection::ImageSize size = input_size(batch.samples[static_cast<std::size_t>(i)]);
    const std::int64_t w = std::min(wp, size.width), h = std::min(hp, size.height);
    for (std::int64_t ch = 0; ch < c; ++ch) {
      for (std::int64_t y = 0; y < h; ++y) {
        const float* row = src + ((i * c + ch) * hp + y) * wp;
        float* mirror = dst + ((i * c + ch) * hp + y) * wp;
        for (std::int64_t x = 0; x < w; ++x) mirror[x] = row[w - 1 - x];
      }
    }
  }
  return out;
}

void unmirror(std::vector<detection::ImageDetections>& detections, const io::Batch& batch) {
  GHM_CHECK(detections.size() == batch.samples.size(), "unmirror: ", detections.size(), " detection lists for ",
            batch.samples.size(), " images");
  for (std::size_t i = 0; i < detections.size(); ++i) {
    const io::Sample& s = batch.samples[i];
    // The mirror axis in original pixels: the resized width over the factor the detector divided
    // its boxes by.
    const auto span = static_cast<float>(static_cast<double>(input_size(s).width) / resize_factor(s));
    const float limit = static_cast<float>(s.orig_width);
    float* box = detections[i].boxes.data<float>();  // [D, 4] x1, y1, x2, y2
    for (std::int64_t j = 0; j < detections[i].scores.numel(); ++j) {
      const float x1 = span - box[4 * j + 2], x2 = span - box[4 * j];
      box[4 * j] = std::clamp(x1, 0.0f, limit);
      box[4 * j + 2] = std::clamp(x2, 0.0f, limit);
    }
  }
}

std::vector<std::vector<detection::ImageDetections>> detect_views_of_batch(Detector& detector, const io::Batch& batch,
                                                                           const TestConfig& test) {
  std::vector<std::vector<detection::ImageDetections>> out(batch.samples.size());
  std::vector<detection::ImageDetections> plain = detector.detect(batch, test);
  for (std::size_t i = 0; i < plain.size(); ++i) out[i].push_back(std::move(plain[i]));
  if (test.flip) {
    std::vector<detection::ImageDetections> back = detector.detect(mirrored(batch), test);
    unmirror(back, batch);
    for (std::size_t i = 0; i < back.size(); ++i) out[i].push_back(std::move(back[i]));
  }
  return out;
}

detection::ImageDetections fuse(const std::vector<detection::ImageDetections>& views, const TestConfig& test) {
  return detection::fuse_views(views, test.fusion_iou, test.post.max_detections);
}

}  // namespace ghm::engine
