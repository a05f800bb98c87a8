// The run configuration: a YAML file merged over the built-in defaults, then `--set` overrides.
// Every key is documented in docs/config.md; an unknown key or a value of the wrong type is an
// error naming the key.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "detection/anchors.h"
#include "detection/faster_rcnn/model.h"
#include "detection/retinanet/loss.h"
#include "detection/retinanet/postprocess.h"
#include "detection/retinanet/model.h"
#include "nn/grad_scaler.h"
#include "nn/optim.h"
#include "io/json.h"
#include "core/precision.h"

namespace ghm::engine {

// The defaults, which are also the schema (the set of known keys).
io::Json default_config();

// defaults <- file (keys checked) <- overrides ("a.b=value", in order).
io::Json load_config(const std::string& path, const std::vector<std::string>& overrides);

// `model.type`.
enum class ModelType { RetinaNet, FasterRcnn };
ModelType model_type(const io::Json& config);

// The `model` section as a RetinaNet configuration (values validated).
detection::RetinaNetConfig retinanet_config(const io::Json& config);

// The `model` section as a Faster R-CNN configuration: model.backbone, model.fpn.width,
// model.head.num_classes (+ 1 for the background), model.faster_rcnn, and the `test` section's
// score_thresh, nms_iou and max_detections for the second stage's detections (config_faster_rcnn.cpp).
detection::FasterRcnnConfig faster_rcnn_config(const io::Json& config);

// The anchors (`model.anchors`), checked against model.head.anchors_per_location.
detection::AnchorConfig anchor_config(const io::Json& config);

// The `data` section; relative paths are joined to `data.root`.
struct DataConfig {
  std::string train_json, train_images, val_json, val_images;
  std::vector<int> train_short_sides;
  int test_short_side = 800;
  int max_side = 1333;
  int size_divisor = 128;
  float flip = 0.5f;
  std::array<float, 3> mean{}, std{};
  bool filter_empty = false;
  bool skip_bad_images = false;
  int workers = 2;
  int prefetch = 4;
  bool group_by_aspect = true;
};
DataConfig data_config(const io::Json& config);

// The `train` section.
struct TrainConfig {
  int batch_size = 2;
  int epochs = 12;
  nn::SgdConfig sgd;
  float clip_grad = 35.0f;
  int warmup_iters = 500;
  float warmup_ratio = 0.001f;
  std::vector<int> step_epochs;
  float gamma = 0.1f;
  std::uint64_t seed = 0;
  int threads = 0;
  int log_interval = 20;
  int checkpoint_interval = 0;
  int keep_checkpoints = 3;
  int eval_interval = 0;
  std::string init_weights;
  std::string device = "cpu";  // cpu, cuda or cuda:I (checked by parse_device when training starts)
  Precision precision = Precision::F32;  // of the convolutions (core/precision.h); checked with the device
  nn::GradScalerConfig loss_scale;       // `auto` resolved: dynamic for fp16
  detection::AssignerConfig assigner;
};
TrainConfig train_config(const io::Json& config);

// The `dist` section: what differs when training runs as several processes (docs/distributed.md).
enum class NumPosScope { Rank, Mean };  // each process's own positives (the reference), or their mean
enum class GhmCountScope { Rank, Sum };  // GHM densities of each process's share (the reference), or of the job's batch
struct DistConfig {
  NumPosScope num_pos = NumPosScope::Rank;
  GhmCountScope ghm_counts = GhmCountScope::Rank;
  std::size_t bucket_bytes = std::size_t{25} << 20;  // gradients summed per bucket of this size
  Precision grad_precision = Precision::F32;          // gradients on the wire: F32 or BF16
};
DistConfig dist_config(const io::Json& config);

// The `loss` section.
detection::DetectionLossConfig loss_config(const io::Json& config);

// The `pretrain` section (`ghm_retinanet pretrain`, engine/pretrain.h).
struct PretrainConfig {
  int image_size = 64;
  int train_images = 24000, val_images = 2800;
  std::uint64_t seed = 0;
  int batch_size = 64;
  int epochs = 8;
  nn::SgdConfig sgd;
  int warmup_iters = 200;
  float warmup_ratio = 0.1f;
  std::vector<int> step_epochs;
  float gamma = 0.1f;
  int threads = 0;
  int log_interval = 20;
  std::string device = "cpu";  // checked by parse_device when the run starts
  Precision precision = Precision::F32;  // of the body's convolutions; checked against the device at the start
  bool zero_init_residual = false;       // nn::ResNetConfig::zero_init_residual
};
PretrainConfig pretrain_config(const io::Json& config);

// The `test` section (inference).
struct TestConfig {
  int batch_size = 2;
  detection::PostprocessConfig post;
  Precision precision = Precision::F32;  // of the model's convolutions (core/precision.h)
  // Test-time augmentation (engine/test_time_augmentation.h): the mirrored image too, other sizes.
  bool flip = false;
  std::vector<int> short_sides;  // empty: data.test_short_side alone
  float fusion_iou = 0.55f;
};
TestConfig test_config(const io::Json& config);

// The most threads a config key or an option may ask for (train.threads, data.workers, --threads):
// 4 x the cores; more only thrashes, and a typo such as 100000 would exhaust the machine.
int max_thread_count();

// A device named on the command line or in a config: "cpu", "cuda" (= cuda:0) or "cuda:I". A CUDA
// device that this build or this machine cannot use is an error naming `where` and the reason.
Device parse_device(const std::string& text, const std::string& where);

}  // namespace ghm::engine
