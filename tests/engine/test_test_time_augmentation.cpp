// Test-time augmentation (engine/test_time_augmentation.h): the views' sizes, the mirror and its
// inverse, and the config keys. A fake detector that boxes the brightest pixel makes the mirror's
// geometry checkable exactly: its box on the mirrored image, moved back, must be its box on the
// image itself.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "engine/config.h"
#include "engine/detection_data.h"
#include "engine/test_time_augmentation.h"
#include "test_paths.h"

using namespace ghm;

namespace {

// Boxes the brightest pixel of channel 0 of each image (original pixels), class 0, score 0.9.
class BrightestPixel : public engine::Detector {
 public:
  nn::Module& module() override { return module_; }
  const nn::Module& module() const override { return module_; }
  engine::ModelType type() const override { return engine::ModelType::RetinaNet; }
  int num_classes() const override { return 1; }
  const nn::ResNetConfig& backbone() const override { return backbone_; }
  detection::DetectionLossState new_loss_state() const override { return detection::DetectionLossState(); }
  engine::DetectorLoss loss(const io::Batch&, const engine::LossContext&) override { GHM_FAIL("not a training detector"); }
  std::vector<detection::ImageDetections> detect(const io::Batch& batch, const engine::TestConfig&) override {
    std::vector<detection::ImageDetections> out;
    const std::int64_t hp = batch.images.size(2), wp = batch.images.size(3);
    for (std::size_t i = 0; i < batch.samples.size(); ++i) {
      const float* plane = batch.images.data<float>() + static_cast<std::int64_t>(i) * 3 * hp * wp;  // channel 0
      const std::int64_t at = std::max_element(plane, plane + hp * wp) - plane;
      const float x = static_cast<float>(at % wp), y = static_cast<float>(at / wp);
      // Original pixels as the real detectors compute them: one factor for both axes.
      const auto f = static_cast<float>(engine::resize_factor(batch.samples[i]));
      detection::ImageDetections d;
      d.boxes = Tensor::from_vector<float>({x / f, y / f, (x + 1) / f, (y + 1) / f}, {1, 4});
      d.scores = Tensor::from_vector<float>({0.9f}, {1});
      d.labels = Tensor::zeros({1}, DType::I64);
      out.push_back(d);
    }
    return out;
  }

 private:
  nn::Module module_;
  nn::ResNetConfig backbone_;
};

// An image of `width` x `height` input pixels (original * scale), background -1, one bright pixel;
// the width's factor off the height's by `skew` (the rounding of a resize).
io::Sample sample(int width, int height, float scale, int bright_x, int bright_y, float skew = 0) {
  io::Sample s;
  s.image = Tensor::full({3, std::int64_t{height}, std::int64_t{width}}, -1.0);
  s.image.data<float>()[bright_y * width + bright_x] = 5.0f;
  s.boxes = Tensor::zeros({0, 4});
  s.labels = Tensor::zeros({0}, DType::I64);
  s.crowd_boxes = Tensor::zeros({0, 4});
  s.orig_width = static_cast<int>(std::lround(static_cast<float>(width) / (scale + skew)));
  s.orig_height = static_cast<int>(static_cast<float>(height) / scale);
  s.scale_h = scale;
  s.scale_w = scale + skew;
  return s;
}

}  // namespace

TEST_CASE("test-time augmentation: a mirrored view's detections come back onto the image") {
  std::vector<io::Sample> samples;
  samples.push_back(sample(10, 8, 0.5f, 3, 2));   // original 20 x 16, padded to 32 x 32 with the next
  samples.push_back(sample(27, 13, 1.0f, 26, 12));
  samples.push_back(sample(32, 32, 2.0f, 0, 31));
  samples.push_back(sample(21, 9, 0.5f, 5, 0, 0.025f));  // original 40 x 18: 0.525 wide, 0.5 high
  const io::Batch batch = io::collate(std::move(samples), 32);

  // The mirror stays within each image's width; the padding stays zero, on the right.
  const io::Batch m = engine::mirrored(batch);
  const float* src = batch.images.data<float>();
  const float* dst = m.images.data<float>();
  REQUIRE(m.images.shape() == batch.images.shape());
  const std::int64_t wp = batch.images.size(3), hp = batch.images.size(2);
  for (std::int64_t y = 0; y < 8; ++y)
    for (std::int64_t x = 0; x < 10; ++x) CHECK(dst[y * wp + x] == src[y * wp + (9 - x)]);
  CHECK(dst[0 * wp + 10] == 0.0f);                   // padding of image 0
  CHECK(dst[3 * hp * wp + 12 * wp + 0] == 5.0f);     // image 1: x 26 -> 0
  const io::Batch twice = engine::mirrored(m);
  CHECK(twice.images.to_vector<float>() == batch.images.to_vector<float>());

  engine::TestConfig test;
  test.flip = true;
  BrightestPixel detector;
  const auto views = engine::detect_views_of_batch(detector, batch, test);
  REQUIRE(views.size() == 4);
  for (std::size_t i = 0; i < views.size(); ++i) {
    CAPTURE(i);
    REQUIRE(views[i].size() == 2);
    const std::vector<float> plain = views[i][0].boxes.to_vector<float>(), back = views[i][1].boxes.to_vector<float>();
    for (std::size_t k = 0; k < 4; ++k) CHECK(back[k] == doctest::Approx(plain[k]).epsilon(1e-6));
  }
  CHECK(views[0][0].boxes.to_vector<float>() == std::vector<float>{6, 4, 8, 6});  // pixel (3, 2) at scale 0.5
  // Fused, the two agreeing views give the one box at the one score.
  const detection::ImageDetections fused = engine::fuse(views[1], test);
  CHECK(fused.boxes.to_vector<float>() == views[1][0].boxes.to_vector<float>());
  CHECK(fused.scores.to_vector<float>() == std::vector<float>{0.9f});
}

TEST_CASE("test-time augmentation: the views' sizes and when inference is plain") {
  engine::DataConfig data;
  data.test_short_side = 800;
  data.max_side = 1333;
  engine::TestConfig test;
  CHECK(engine::plain_inference(test, data));
  CHECK(engine::view_count(test, data) == 1);
  test.short_sides = {800};
  CHECK(engine::plain_inference(test, data));
  test.short_sides = {960};
  CHECK_FALSE(engine::plain_inference(test, data));  // one view, but not the configured size
  test.short_sides = {800, 960, 800};
  const std::vector<engine::TestScale> scales = engine::test_scales(test, data);
  REQUIRE(scales.size() == 2);
  CHECK(scales[0].short_side == 800);
  CHECK(scales[0].max_side == 1333);
  CHECK(scales[1].short_side == 960);
  CHECK(scales[1].max_side == 1600);  // round(1333 * 960 / 800) = round(1599.6)
  test.flip = true;
  CHECK(engine::view_count(test, data) == 4);
}

TEST_CASE("test-time augmentation: config keys, defaults off, bad values named") {
  const std::string path = testing::source_dir() + "/configs/retinanet_r50_fpn_ghm_1x.yaml";
  const engine::TestConfig plain = engine::test_config(engine::load_config(path, {}));
  CHECK_FALSE(plain.flip);
  CHECK(plain.short_sides.empty());
  CHECK(plain.fusion_iou == doctest::Approx(0.55));
  const engine::TestConfig tta =
      engine::test_config(engine::load_config(path, {"test.flip=true", "test.short_sides=[640, 800]"}));
  CHECK(tta.flip);
  CHECK(tta.short_sides == std::vector<int>{640, 800});
  const auto error_of = [&](const std::string& override_text) {
    try {
      engine::test_config(engine::load_config(path, {override_text}));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_of("test.fusion_iou=0").find("fusion_iou") != std::string::npos);
  CHECK(error_of("test.fusion_iou=1.5").find("fusion_iou") != std::string::npos);
  CHECK(error_of("test.short_sides=[0]").find("short_sides") != std::string::npos);
  CHECK(error_of("test.short_sides=[1,2,3,4,5,6,7,8,9]").find("at most 8") != std::string::npos);
  CHECK(error_of("test.flip=maybe").find("flip") != std::string::npos);
}
