// Every config shipped in configs/ loads over the defaults and every section of it parses (the
// values in range, the anchors consistent with the head): a typo in a shipped config fails here,
// not in a user's run. Bad pretrain values are errors naming the key.
#include <doctest/doctest.h>

#include <filesystem>

#include "engine/config.h"
#include "test_paths.h"

using namespace ghm;

TEST_CASE("configs: every shipped config loads and every section parses") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::source_dir() + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string path = entry.path().string();
    CAPTURE(path);
    const io::Json config = engine::load_config(path, {});
    CHECK_NOTHROW(engine::retinanet_config(config));
    CHECK_NOTHROW(engine::anchor_config(config));
    CHECK_NOTHROW(engine::data_config(config));
    CHECK_NOTHROW(engine::train_config(config));
    CHECK_NOTHROW(engine::loss_config(config));
    CHECK_NOTHROW(engine::test_config(config));
    CHECK_NOTHROW(engine::dist_config(config));
    CHECK_NOTHROW(engine::pretrain_config(config));
    if (engine::model_type(config) == engine::ModelType::FasterRcnn) CHECK_NOTHROW(engine::faster_rcnn_config(config));
    ++count;
  }
  CHECK(count >= 9);
}

TEST_CASE("configs: bad pretrain values are errors naming the key") {
  const std::string path = testing::source_dir() + "/configs/shapes_demo.yaml";
  const auto error_of = [&](const std::string& override_text) {
    try {
      engine::pretrain_config(engine::load_config(path, {override_text}));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string falling = error_of("pretrain.steps=[5, 4]");
  CHECK(falling.find("pretrain.steps") != std::string::npos);
  CHECK(falling.find("steps must rise") != std::string::npos);
  CHECK(error_of("pretrain.steps=[6]").find("no error") != std::string::npos);  // a step at the end never applies
  CHECK(error_of("pretrain.batch_size=64").find("no error") != std::string::npos);
  CHECK(error_of("pretrain.train_images=10").find("less than one batch of 64") != std::string::npos);
  CHECK(error_of("pretrain.epochs=1000000000").find("pretrain.epochs") != std::string::npos);
  CHECK(error_of("pretrain.image_size=2048").find("image_size 2048 is outside [32, 1024]") != std::string::npos);
  CHECK(error_of("pretrain.train_images=10000000").find("more than 16 GiB") != std::string::npos);
  const std::string fp16 = error_of("pretrain.precision=fp16");
  CHECK(fp16.find("pretrain.precision") != std::string::npos);
  CHECK(fp16.find("use bf16") != std::string::npos);
  CHECK(error_of("pretrain.precision=fp8").find("pretrain.precision") != std::string::npos);
  CHECK(error_of("pretrain.precision=bf16").find("no error") != std::string::npos);
  const auto depth_error = [&]() {
    try {
      engine::retinanet_config(engine::load_config(path, {"model.backbone.depth=19"}));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(depth_error().find("depth 19 is not one of 18, 34, 50, 101, 152") !=
        std::string::npos);
}

TEST_CASE("configs: model.type and bad faster_rcnn values are errors naming the key") {
  const std::string path = testing::source_dir() + "/configs/shapes_demo.yaml";
  const auto error_of = [&](const std::vector<std::string>& overrides) {
    try {
      const io::Json c = engine::load_config(path, overrides);
      engine::model_type(c);
      engine::faster_rcnn_config(c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of({"model.type=faster_rcnn"}) == "no error");
  CHECK(error_of({"model.type=yolo"}).find("model.type") != std::string::npos);
  CHECK(error_of({"model.type=yolo"}).find("retinanet | faster_rcnn") != std::string::npos);
  CHECK(error_of({"model.faster_rcnn.rpn.anchor_sizes=[32, 64]"}).find("anchor_sizes") != std::string::npos);
  CHECK(error_of({"model.faster_rcnn.rpn.bg_iou=0.8"}).find("bg_iou 0.8 is above fg_iou 0.7") != std::string::npos);
  CHECK(error_of({"model.faster_rcnn.roi.box_loss=giou"}).find("model.faster_rcnn.roi.box_loss") != std::string::npos);
  CHECK(error_of({"model.faster_rcnn.roi.batch_per_image=0"}).find("batch_per_image") != std::string::npos);
  CHECK(error_of({"model.faster_rcnn.roi.ghmr_momentum=1.5"}).find("ghmr_momentum") != std::string::npos);
  CHECK(error_of({"model.faster_rcnn.roi.positive_fraction=1.5"}).find("positive_fraction") != std::string::npos);
  CHECK(error_of({"model.type=faster_rcnn", "data.size_divisor=16"}).find("data.size_divisor") != std::string::npos);
  CHECK(error_of({"model.faster_rcnn.roi.pool_size=64", "model.faster_rcnn.roi.representation=2048"})
            .find("more than 2^28") != std::string::npos);
  const detection::FasterRcnnConfig c =
      engine::faster_rcnn_config(engine::load_config(path, {"model.type=faster_rcnn", "test.score_thresh=0.2"}));
  CHECK(c.roi.num_classes == engine::retinanet_config(engine::load_config(path, {})).num_classes + 1);
  CHECK(c.roi.score_thresh == 0.2f);
  CHECK(c.roi_train.beta == 1.0f / 9.0f);
  CHECK(c.rpn_train.matcher.allow_low_quality_matches);
  CHECK(!c.roi_train.matcher.allow_low_quality_matches);
  CHECK(c.roi_train.positive_fraction == 0.25);
}

TEST_CASE("configs: a short side above data.max_side is an error naming the key") {
  const std::string path = testing::source_dir() + "/configs/shapes_demo.yaml";  // max_side 160
  const auto error_of = [&](const std::vector<std::string>& overrides) {
    try {
      engine::data_config(engine::load_config(path, overrides));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string train = error_of({"data.train_short_sides=[128, 176]"});
  CHECK(train.find("train_short_sides") != std::string::npos);
  CHECK(train.find("176 is above data.max_side (160)") != std::string::npos);
  CHECK(error_of({"data.test_short_side=192"}).find("test_short_side") != std::string::npos);
  CHECK(error_of({"data.train_short_sides=[128, 176]", "data.max_side=176"}) == "no error");
}
