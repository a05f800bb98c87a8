// Detection on image files (detect.h): the single-image batch and the two outputs of each image
// (JSON and drawing); where they go is detect_outputs.h.
#include "engine/detect.h"

#include <cstdio>
#include <filesystem>

#include "core/check.h"
#include "core/cpu/large_block_cache.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/detect_outputs.h"
#include "engine/inference.h"
#include "engine/test_time_augmentation.h"
#include "io/output_file.h"
#include "io/draw.h"
#include "io/image.h"
#include "io/transforms.h"
#include "io/yaml.h"

namespace ghm::engine {
namespace {

constexpr int kJpegQuality = 92;

// The image resized and normalised as at inference, alone in a batch.
io::Batch single_image_batch(const io::Image& original, const DataConfig& data) {
  const io::RescaledSize size = io::rescale_size(original.height, original.width, data.test_short_side, data.max_side);
  const io::Image resized = size.height == original.height && size.width == original.width
                                ? original
                                : io::resize_bilinear(original, size.height, size.width);
  io::Sample s;
  s.image = io::normalize(resized, data.mean, data.std, io::ChannelOrder::RGB);
  s.boxes = Tensor::zeros({0, 4});
  s.labels = Tensor::zeros({0}, DType::I64);
  s.crowd_boxes = Tensor::zeros({0, 4});
  s.orig_height = original.height;
  s.orig_width = original.width;
  s.scale_h = size.scale_h;
  s.scale_w = size.scale_w;
  std::vector<io::Sample> one;
  one.push_back(std::move(s));
  return io::collate(std::move(one), data.size_divisor);
}

// The image with each detection's box, class name and score; the best drawn last, on top.
io::Image draw_detections(const io::Image& original, const detection::ImageDetections& det, const coco::Dataset& names) {
  io::Image drawn = original;
  const float* box = det.boxes.data<float>();  // [D, 4] x1, y1, x2, y2
  for (std::int64_t j = det.scores.numel() - 1; j >= 0; --j) {
    const int label = static_cast<int>(det.labels.data<std::int64_t>()[j]);
    const float score = det.scores.data<float>()[j];
    const std::string& name = names.categories[static_cast<std::size_t>(label)].name;
    char text[96];
    std::snprintf(text, sizeof text, "%s %.2f", name.c_str(), score);
    io::label_box(drawn, box[4 * j], box[4 * j + 1], box[4 * j + 2], box[4 * j + 3], text, io::class_color(label));
  }
  return drawn;
}

// [{"bbox": [x, y, w, h], "score", "category_id", "category"}, ...], best first.
io::Json detections_json(const detection::ImageDetections& det, const coco::Dataset& names) {
  io::Json list = io::Json::array();
  const float* box = det.boxes.data<float>();  // [D, 4] x1, y1, x2, y2
  for (std::int64_t j = 0; j < det.scores.numel(); ++j) {
    const int label = static_cast<int>(det.labels.data<std::int64_t>()[j]);
    io::Json b = io::Json::array();
    b.push_back(io::Json(static_cast<double>(box[4 * j])));
    b.push_back(io::Json(static_cast<double>(box[4 * j + 1])));
    b.push_back(io::Json(static_cast<double>(box[4 * j + 2] - box[4 * j])));
    b.push_back(io::Json(static_cast<double>(box[4 * j + 3] - box[4 * j + 1])));
    io::Json d = io::Json::object();
    d.set("bbox", b);
    d.set("score", io::Json(static_cast<double>(det.scores.data<float>()[j])));
    d.set("category_id", io::Json(names.category_id(label)));
    d.set("category", io::Json(names.categories[static_cast<std::size_t>(label)].name));
    list.push_back(d);
  }
  return list;
}

// The detections scoring at least `thresh` (a prefix: they are score-descending). Fused views can
// score below the threshold each view applied (a detection one view of four made keeps a quarter
// of its score).
detection::ImageDetections at_least(const detection::ImageDetections& det, float thresh) {
  const float* score = det.scores.data<float>();
  std::int64_t n = 0;
  while (n < det.scores.numel() && score[n] >= thresh) ++n;
  if (n == det.scores.numel()) return det;
  detection::ImageDetections out;
  out.boxes = Tensor::from_vector(std::vector<float>(det.boxes.data<float>(), det.boxes.data<float>() + 4 * n), {n, 4});
  out.scores = Tensor::from_vector(std::vector<float>(score, score + n), {n});
  out.labels = Tensor::from_vector(
      std::vector<std::int64_t>(det.labels.data<std::int64_t>(), det.labels.data<std::int64_t>() + n), {n});
  return out;
}

// The categories of data.val_json (or data.train_json), checked against the model's class count.
coco::Dataset class_names(const DataConfig& data, int num_classes, const std::string& config_path) {
  const std::string names_json = !data.val_json.empty() ? data.val_json : data.train_json;
  GHM_CHECK(!names_json.empty(), config_path, ": detect takes the class names from data.val_json or data.train_json; set one");
  coco::LoadOptions quiet;
  quiet.warnings = coco::Warnings::Collect;
  coco::Dataset names = coco::load_dataset(names_json, quiet);
  GHM_CHECK(names.num_classes() == num_classes, names_json, " has ", names.num_classes(),
            " categories but model.head.num_classes is ", num_classes);
  return names;
}

}  // namespace

void detect_images(const DetectImagesOptions& o) {
  const std::vector<DetectOutput> plan = plan_detect_outputs(o.inputs, o.out_dir);
  io::Json config = load_config(o.config_path, o.overrides);
  char thresh[64];
  std::snprintf(thresh, sizeof thresh, "test.score_thresh=%.9g", static_cast<double>(o.score_thresh));
  io::apply_override(config, thresh, "detect --score-thresh");  // before the model is made: Faster R-CNN's second stage reads it
  const DataConfig data = data_config(config);
  Generator gen(0);
  const std::unique_ptr<Detector> detector = make_detector(config, gen);
  const coco::Dataset names = class_names(data, detector->num_classes(), o.config_path);
  nn::Module& model = detector->module();
  load_model_weights(resolve_checkpoint(o.checkpoint), model, nn::Strict::Yes);
  const Device device = parse_device(o.device, "detect --device");
  TestConfig test = test_config(config);
  check_precision(test.precision, device, "test.precision");
  model.to(device);
  model.eval();
  cpu::enable_host_cache_for_inference();

  for (const auto& [file, stem] : plan) {
    const io::Image original = io::read_image(file);
    std::vector<detection::ImageDetections> views;  // test-time augmentation (test_time_augmentation.h)
    for (const TestScale& scale : test_scales(test, data)) {
      DataConfig sized = data;
      sized.test_short_side = scale.short_side;
      sized.max_side = scale.max_side;
      std::vector<std::vector<detection::ImageDetections>> one =
          detect_views_of_batch(*detector, single_image_batch(original, sized), test);
      for (detection::ImageDetections& view : one.front()) views.push_back(std::move(view));
    }
    const detection::ImageDetections det =
        plain_inference(test, data) ? views.front() : at_least(fuse(views, test), o.score_thresh);
    std::filesystem::create_directories(std::filesystem::path(stem).parent_path());
    io::Json root = io::Json::object();
    root.set("file", io::Json(file));
    root.set("width", io::Json(original.width));
    root.set("height", io::Json(original.height));
    root.set("detections", detections_json(det, names));
    io::write_output(stem + ".json", root.dump() + "\n");
    io::write_jpeg(stem + ".jpg", draw_detections(original, det, names), kJpegQuality);
    std::printf("%s: %lld detections -> %s.jpg\n", file.c_str(), static_cast<long long>(det.scores.numel()), stem.c_str());
  }
}

}  // namespace ghm::engine
