// `model.type` and the Faster R-CNN section of the config (config.h; docs/config.md).
#include <string>
#include <vector>

#include "core/check.h"
#include "engine/config.h"
#include "engine/config_values.h"

namespace ghm::engine {

using namespace config_values;

namespace {

std::vector<float> positive_numbers(const io::Json& v, std::size_t count, const char* what) {
  GHM_CHECK(v.is_array() && (count == 0 ? v.size() > 0 : v.size() == count), v.location(), ": ", what,
            " must be a list of ", count == 0 ? std::string("at least one") : std::to_string(count), " numbers");
  std::vector<float> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.push_back(number_in(v.at(i), 1e-3, 1e5));
  return out;
}

// A number in [0, 1] kept in double (torchvision's samplers multiply a Python float).
double fraction(const io::Json& v) {
  const double x = v.as_double();
  GHM_CHECK(x >= 0 && x <= 1, v.location(), ": ", x, " is outside [0, 1]");
  return x;
}

detection::MatcherConfig matcher(const io::Json& s, bool low_quality) {
  detection::MatcherConfig m{number_in(s.at("fg_iou"), 0, 1), number_in(s.at("bg_iou"), 0, 1), low_quality};
  GHM_CHECK(m.low <= m.high, s.at("bg_iou").location(), ": bg_iou ", m.low, " is above fg_iou ", m.high);
  return m;
}

}  // namespace

ModelType model_type(const io::Json& config) {
  return one_of(config.at("model").at("type"), {"retinanet", "faster_rcnn"}) == "faster_rcnn" ? ModelType::FasterRcnn
                                                                                               : ModelType::RetinaNet;
}

detection::FasterRcnnConfig faster_rcnn_config(const io::Json& config) {
  const detection::RetinaNetConfig shared = retinanet_config(config);  // backbone, width, classes: validated
  const TestConfig test = test_config(config);
  const io::Json& fr = config.at("model").at("faster_rcnn");
  const io::Json& r = fr.at("rpn");
  const io::Json& o = fr.at("roi");
  detection::FasterRcnnConfig c;
  c.backbone = shared.backbone;
  c.width = shared.width;
  c.rpn.sizes = positive_numbers(r.at("anchor_sizes"), 5, "anchor_sizes (one per level P2..P6)");
  c.rpn.ratios = positive_numbers(r.at("ratios"), 0, "ratios");
  c.rpn.pre_nms_top_n_train = int_in(r.at("pre_nms_top_n_train"), 1, 1 << 20, "pre_nms_top_n_train");
  c.rpn.pre_nms_top_n_test = int_in(r.at("pre_nms_top_n_test"), 1, 1 << 20, "pre_nms_top_n_test");
  c.rpn.post_nms_top_n_train = int_in(r.at("post_nms_top_n_train"), 1, 1 << 20, "post_nms_top_n_train");
  c.rpn.post_nms_top_n_test = int_in(r.at("post_nms_top_n_test"), 1, 1 << 20, "post_nms_top_n_test");
  c.rpn.nms_thresh = number_in(r.at("nms_iou"), 0, 1);
  c.rpn_train.matcher = matcher(r, true);
  c.rpn_train.batch_per_image = int_in(r.at("batch_per_image"), 1, 1 << 20, "batch_per_image");
  c.rpn_train.positive_fraction = fraction(r.at("positive_fraction"));

  c.pooler.output_size = int_in(o.at("pool_size"), 1, 64, "pool_size");
  c.pooler.sampling_ratio = int_in(o.at("sampling_ratio"), 0, 64, "sampling_ratio");
  c.roi.num_classes = shared.num_classes + 1;
  c.roi.representation = int_in(o.at("representation"), 1, kMaxWidth * 4, "representation");
  c.roi.score_thresh = test.post.score_thresh;
  c.roi.nms_thresh = test.post.nms_iou;
  c.roi.detections_per_image = test.post.max_detections;
  const std::int64_t fc6 = c.width * c.pooler.output_size * c.pooler.output_size * c.roi.representation;
  GHM_CHECK(fc6 <= (std::int64_t{1} << 28), o.at("representation").location(), ": the box head's first layer would "
            "hold model.fpn.width x pool_size^2 x representation = ", fc6, " weights, more than 2^28 (1 GiB)");
  const io::Json& divisor = config.at("data").at("size_divisor");
  GHM_CHECK(divisor.as_int() % 32 == 0, divisor.location(), ": Faster R-CNN needs images padded to a multiple "
            "of 32 (P2..P6 at strides 4..64, as torchvision pads), got ", divisor.as_int());
  c.roi_train.matcher = matcher(o, false);
  c.roi_train.batch_per_image = int_in(o.at("batch_per_image"), 1, 1 << 20, "batch_per_image");
  c.roi_train.positive_fraction = fraction(o.at("positive_fraction"));
  const std::string box_loss = one_of(o.at("box_loss"), {"smooth_l1", "l1", "ghmr"});
  c.roi_train.box_loss = box_loss == "ghmr" ? detection::RoiBoxLoss::GhmR
                         : box_loss == "l1" ? detection::RoiBoxLoss::L1
                                            : detection::RoiBoxLoss::SmoothL1;
  c.roi_train.beta = number_in(o.at("beta"), 1e-6, 100);
  c.roi_train.box_loss_weight = number_in(o.at("box_loss_weight"), 0, 1e4);
  const auto f = [&](const char* key) { return static_cast<float>(o.at(key).as_double()); };
  c.roi_train.ghmr = losses::GhmSettings::regression(
      f("ghmr_mu"), int_in(o.at("ghmr_bins"), 1, 1 << 16, "ghmr_bins"), f("ghmr_momentum"), f("ghmr_loss_weight"),
      {o.at("ghmr_bins").location(), o.at("ghmr_momentum").location(), o.at("ghmr_loss_weight").location(),
       o.at("ghmr_mu").location()});
  return c;
}

}  // namespace ghm::engine
