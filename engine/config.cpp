#include "engine/config.h"

#include <algorithm>
#include <limits>
#include <thread>

#include "core/runtime_info.h"
#include "engine/config_values.h"
#include "io/yaml.h"
#include "losses/ghm_settings.h"

namespace ghm::engine {

using namespace config_values;

namespace {

// Keep in step with docs/config.md.
constexpr const char* kDefaults = R"(
model:
  type: retinanet          # retinanet | faster_rcnn (docs/faster_rcnn.md)
  backbone:
    depth: 50              # 18, 34, 50, 101, 152
    groups: 1              # ResNeXt cardinality
    width_per_group: 64    # ResNeXt bottleneck width
    norm: frozen_bn        # frozen_bn | bn | syncbn (bn over a data-parallel job's whole batch)
    frozen_stages: 1       # stem + this many stages get no gradient (0..4)
    base_width: 64         # stem / layer1 channels, doubled per stage (64: torchvision's ResNets)
  fpn:
    width: 256
    p6_from: c5            # c5 (Detectron, mmdetection) | p5 (torchvision)
  anchors:
    octave_base_scale: 4   # the smallest anchor of a level is this x its stride (8..128)
    scales_per_octave: 3
    ratios: [0.5, 1.0, 2.0]  # height / width
  head:
    num_classes: 80
    anchors_per_location: 9
    convs: 4
    group_norm: 0          # 0: none; G: GroupNorm(G) after each tower conv (torchvision v2: 32)
    prior: 0.01
  faster_rcnn:             # model.type faster_rcnn: torchvision's fasterrcnn_resnet50_fpn recipe
    rpn:
      anchor_sizes: [32, 64, 128, 256, 512]  # one per level P2..P6
      ratios: [0.5, 1.0, 2.0]  # height / width
      pre_nms_top_n_train: 2000  # per level and image
      pre_nms_top_n_test: 1000
      post_nms_top_n_train: 2000  # per image
      post_nms_top_n_test: 1000
      nms_iou: 0.7
      fg_iou: 0.7          # anchors at or above: object
      bg_iou: 0.3          # below: background (between: ignored)
      batch_per_image: 256 # anchors sampled per image
      positive_fraction: 0.5
    roi:
      pool_size: 7         # RoIAlign output side
      sampling_ratio: 2
      representation: 1024 # the two fully connected layers of the box head
      fg_iou: 0.5
      bg_iou: 0.5
      batch_per_image: 512 # RoIs sampled per image (the gt boxes join the proposals first)
      positive_fraction: 0.25
      box_loss: smooth_l1  # smooth_l1 | l1 | ghmr
      beta: 0.11111111     # smooth_l1 (1/9)
      box_loss_weight: 1.0 # smooth_l1, l1
      ghmr_mu: 0.02
      ghmr_bins: 10
      ghmr_momentum: 0.7
      ghmr_loss_weight: 1.0
data:
  root: ""                 # prefix of the relative paths below ("" = the current directory)
  train_json: ""           # COCO instances file of the training split
  train_images: ""         # folder the training file_names are relative to
  val_json: ""
  val_images: ""
  train_short_sides: [800] # shorter side; several values = multi-scale training (one drawn per image)
  test_short_side: 800
  max_side: 1333
  size_divisor: 128
  flip: 0.5                # probability of a horizontal flip in training
  mean: [123.675, 116.28, 103.53]  # RGB, 0-255 scale
  std: [58.395, 57.12, 57.375]
  filter_empty: false      # drop training images without (non-crowd) boxes
  skip_bad_images: false   # a missing or corrupt image: error (false) or skipped with a warning
  workers: 2
  prefetch: 4              # batches decoded ahead
  group_by_aspect: true    # batches of only landscape or only portrait images
loss:
  cls:
    type: ghmc             # ghmc | ghmc_exact | focal | ce
    bins: 30
    momentum: 0.75
    scope: per_level       # per_level (the reference) | batch (the paper's text)
    alpha: 0.25            # focal
    gamma: 2.0             # focal
    loss_weight: 1.0
  reg:
    type: ghmr             # ghmr | sl1 | asl1
    mu: 0.02               # ghmr, asl1
    bins: 10
    momentum: 0.7
    scope: per_level
    beta: 0.11             # sl1
    loss_weight: 10.0
train:
  batch_size: 2
  epochs: 12
  lr: 0.01
  momentum: 0.9
  weight_decay: 0.0001
  decay_norm_and_bias: true
  clip_grad: 35.0          # max global gradient norm; 0 = no clipping
  warmup_iters: 500
  warmup_ratio: 0.001
  steps: [8, 11]           # epochs after which lr is multiplied by gamma
  gamma: 0.1
  seed: 0
  threads: 0               # compute threads; 0 = all cores, less those other programs keep busy
  log_interval: 20         # iterations between log lines
  checkpoint_interval: 0   # iterations between checkpoints (0: at the end of each epoch only)
  keep_checkpoints: 3
  eval_interval: 0         # epochs between evaluations on the validation split (0: none)
  init_weights: ""         # safetensors with (some) model weights to start from, e.g. a backbone
  device: cpu              # cpu, cuda or cuda:I: where the model, the losses and the optimizer run
  precision: fp32          # fp32 | bf16 | fp16 (CUDA): convolutions' operands; docs/precision.md
  loss_scale: auto         # auto (dynamic for fp16, else none) | dynamic | none | a fixed power of two
  loss_scale_init: 65536   # dynamic: the first scale (a power of two)
  loss_scale_window: 2000  # dynamic: steps without inf/NaN gradients before the scale doubles
  pos_iou: 0.5
  neg_iou: 0.4
  min_pos_iou: 0.0
pretrain:                  # `ghm_retinanet pretrain`: model.backbone as a classifier of synthetic images (docs/pretrain.md)
  image_size: 64           # images of image_size x image_size px (32..1024), 28 classes (shape x paint)
  train_images: 24000      # generated in memory from the seed, disjoint from make-shapes' images
  val_images: 2800         # held out: accuracy after each epoch
  seed: 0                  # the images, the initialisation, the order and the flips
  batch_size: 64
  epochs: 8
  lr: 0.1
  momentum: 0.9
  weight_decay: 0.0001
  warmup_iters: 200
  warmup_ratio: 0.1
  steps: [6, 7]            # epochs after which lr is multiplied by gamma
  gamma: 0.1
  threads: 0               # compute threads; 0 = all cores
  log_interval: 20
  device: cpu              # cpu, cuda or cuda:I
  precision: fp32          # fp32 | bf16: the body's convolutions (as train.precision; no fp16: no loss scaling here)
  zero_init_residual: false  # true: every residual block starts as the identity (its last batch norm's weight 0)
dist:                      # jobs of several processes (mpirun, srun); docs/distributed.md
  num_pos: rank            # focal/ce/sl1/asl1 normaliser: rank (each its own, the reference) | mean (over processes)
  ghm_counts: rank         # GHM bin counts: rank (each process's share, the reference) | sum (the job's batch, the paper's)
  bucket_mb: 25            # gradients are summed across processes in buckets of this many MiB
  grad_precision: fp32     # gradients on the wire: fp32 | bf16 (half the bytes, each sum rounded to bf16)
test:
  batch_size: 2
  score_thresh: 0.05
  topk_per_level: 1000
  nms_iou: 0.5
  max_detections: 100
  precision: fp32          # fp32 | bf16 | fp16 (CUDA): inference's convolutions (eval, detect, forward)
  flip: false              # test-time augmentation: also detect on the mirrored image and fuse (eval, detect)
  short_sides: []          # test-time augmentation: the views' short sides ([]: data.test_short_side alone)
  fusion_iou: 0.55         # detections of one class from different views at or above this IoU are one object
)";

void merge(io::Json& base, const io::Json& over) {
  for (const auto& [key, value] : over.as_object()) {
    const io::Json* old = base.find(key);
    if (old && old->is_object() && value.is_object()) {
      io::Json merged = *old;
      merge(merged, value);
      base.set(key, merged);
    } else {
      base.set(key, value);
    }
  }
}

}  // namespace

io::Json default_config() { return io::parse_yaml(kDefaults, "built-in defaults"); }

io::Json load_config(const std::string& path, const std::vector<std::string>& overrides) {
  io::Json config = default_config();
  const io::Json file = io::load_yaml_file(path);
  GHM_CHECK(file.is_object() || file.is_null(), path, ": a config must be a mapping of sections");
  if (file.is_object()) {
    const std::vector<std::string> unknown = io::validate_keys(file, config);
    GHM_CHECK(unknown.empty(), path, ": ", unknown.front(), unknown.size() > 1 ? " (and more)" : "");
    merge(config, file);
  }
  for (const std::string& o : overrides) io::apply_override(config, o);
  return config;
}

detection::RetinaNetConfig retinanet_config(const io::Json& config) {
  const io::Json& m = config.at("model");
  const io::Json& b = m.at("backbone");
  detection::RetinaNetConfig c;
  c.backbone.depth = static_cast<int>(b.at("depth").as_int());
  GHM_CHECK(c.backbone.depth == 18 || c.backbone.depth == 34 || c.backbone.depth == 50 || c.backbone.depth == 101 ||
                c.backbone.depth == 152,
            b.at("depth").location(), ": depth ", b.at("depth").as_int(), " is not one of 18, 34, 50, 101, 152");
  c.backbone.groups = int_in(b.at("groups"), 1, kMaxWidth, "groups");
  c.backbone.width_per_group = int_in(b.at("width_per_group"), 1, kMaxWidth, "width_per_group");
  const std::string norm = b.at("norm").as_string();
  GHM_CHECK(norm == "frozen_bn" || norm == "bn" || norm == "syncbn", b.at("norm").location(),
            ": norm must be frozen_bn, bn or syncbn, got '", norm, "'");
  c.backbone.norm = norm == "bn"       ? nn::NormKind::BatchNorm
                    : norm == "syncbn" ? nn::NormKind::SyncBatchNorm
                                       : nn::NormKind::FrozenBatchNorm;
  c.backbone.frozen_stages = static_cast<int>(b.at("frozen_stages").as_int());
  c.backbone.base_width = int_in(b.at("base_width"), 1, kMaxWidth, "base_width");
  GHM_CHECK(std::int64_t{c.backbone.groups} * c.backbone.width_per_group <= kMaxWidth, b.at("groups").location(),
            ": groups x width_per_group = ", std::int64_t{c.backbone.groups} * c.backbone.width_per_group,
            " channels is more than ", kMaxWidth);
  const io::Json& f = m.at("fpn");
  c.width = int_in(f.at("width"), 1, kMaxWidth, "width");
  const std::string p6 = f.at("p6_from").as_string();
  GHM_CHECK(p6 == "c5" || p6 == "p5", f.at("p6_from").location(), ": p6_from must be c5 or p5, got '", p6, "'");
  c.p6_source = p6 == "p5" ? nn::P6Source::P5 : nn::P6Source::C5;
  const io::Json& h = m.at("head");
  c.num_classes = int_in(h.at("num_classes"), 1, kMaxClasses, "num_classes");
  c.anchors_per_location = h.at("anchors_per_location").as_int();
  c.head_convs = int_in(h.at("convs"), 0, 64, "convs");
  c.head_group_norm = static_cast<int>(h.at("group_norm").as_int());
  GHM_CHECK(c.head_group_norm >= 0 && (c.head_group_norm == 0 || c.width % c.head_group_norm == 0),
            h.at("group_norm").location(), ": group_norm ", c.head_group_norm, " must be 0 or divide the width ", c.width);
  c.prior = static_cast<float>(h.at("prior").as_double());
  GHM_CHECK(c.width > 0 && c.num_classes > 0 && c.anchors_per_location > 0 && c.head_convs >= 0, "model: width ",
            c.width, ", num_classes ", c.num_classes, ", anchors_per_location ", c.anchors_per_location, " and convs ",
            c.head_convs, " must be positive");
  return c;
}

namespace {

std::string join_root(const std::string& root, const std::string& path) {
  if (root.empty() || path.empty() || path.front() == '/') return path;
  return root.back() == '/' ? root + path : root + "/" + path;
}

Precision precision_key(const io::Json& v) {
  return parse_precision(one_of(v, {"fp32", "bf16", "fp16"}), v.location());
}

// train.loss_scale and its two companions (nn/grad_scaler.h); `auto` follows the precision.
nn::GradScalerConfig loss_scale_config(const io::Json& t, Precision precision) {
  const io::Json& v = t.at("loss_scale");
  nn::GradScalerConfig c;
  c.growth_interval = int_in(t.at("loss_scale_window"), 1, 1 << 30, "loss_scale_window");
  const auto check = [&c](const io::Json& key) {  // the scaler's own checks, naming the key
    try {
      const nn::GradScaler probe(c);
    } catch (const Error& e) {
      GHM_FAIL(key.location(), ": ", e.what());
    }
  };
  if (!v.is_string()) {
    c.init_scale = v.as_double();  // a fixed scale
    check(v);
    return c;
  }
  const std::string mode = one_of(v, {"auto", "dynamic", "none"});
  c.dynamic = mode == "dynamic" || (mode == "auto" && precision == Precision::F16);
  c.init_scale = t.at("loss_scale_init").as_double();
  check(t.at("loss_scale_init"));  // even where unused: a typo is caught before it matters
  if (!c.dynamic) c.init_scale = 1.0;
  return c;
}

std::vector<int> int_list(const io::Json& v, bool positive) {
  std::vector<int> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(positive ? positive_int(v.at(i), "each value") : non_negative_int(v.at(i)));
  return out;
}

std::array<float, 3> three_numbers(const io::Json& v) {
  GHM_CHECK(v.is_array() && v.size() == 3, v.location(), ": needs 3 numbers (R, G, B)");
  return {static_cast<float>(v.at(0).as_double()), static_cast<float>(v.at(1).as_double()),
          static_cast<float>(v.at(2).as_double())};
}

losses::GhmScope scope_of(const io::Json& v) {
  return one_of(v, {"per_level", "batch"}) == "batch" ? losses::GhmScope::Batch : losses::GhmScope::PerLevel;
}

}  // namespace

detection::AnchorConfig anchor_config(const io::Json& config) {
  const io::Json& a = config.at("model").at("anchors");
  detection::AnchorConfig c;
  c.octave_base_scale = positive_int(a.at("octave_base_scale"), "octave_base_scale");
  c.scales_per_octave = positive_int(a.at("scales_per_octave"), "scales_per_octave");
  c.ratios.clear();
  for (std::size_t i = 0; i < a.at("ratios").size(); ++i) c.ratios.push_back(number_in(a.at("ratios").at(i), 1e-3, 1e3));
  GHM_CHECK(!c.ratios.empty(), a.at("ratios").location(), ": needs at least one ratio");
  const std::int64_t per_location = static_cast<std::int64_t>(c.ratios.size()) * c.scales_per_octave;
  const io::Json& apl = config.at("model").at("head").at("anchors_per_location");
  GHM_CHECK(apl.as_int() == per_location, apl.location(), ": ", apl.as_int(), " anchors per location, but ",
            c.ratios.size(), " ratios x ", c.scales_per_octave, " scales per octave make ", per_location);
  return c;
}

DataConfig data_config(const io::Json& config) {
  const io::Json& d = config.at("data");
  const std::string root = d.at("root").as_string();
  DataConfig c;
  c.train_json = join_root(root, d.at("train_json").as_string());
  c.train_images = join_root(root, d.at("train_images").as_string());
  c.val_json = join_root(root, d.at("val_json").as_string());
  c.val_images = join_root(root, d.at("val_images").as_string());
  const io::Json& sides = d.at("train_short_sides");
  for (std::size_t i = 0; i < sides.size(); ++i)
    c.train_short_sides.push_back(int_in(sides.at(i), 1, kMaxImageSide, "train_short_sides"));
  GHM_CHECK(!c.train_short_sides.empty(), sides.location(), ": needs at least one size");
  c.test_short_side = int_in(d.at("test_short_side"), 1, kMaxImageSide, "test_short_side");
  c.max_side = int_in(d.at("max_side"), 1, kMaxImageSide, "max_side");
  c.size_divisor = int_in(d.at("size_divisor"), 1, 1024, "size_divisor");
  for (const int side : c.train_short_sides)
    GHM_CHECK(side <= c.max_side, sides.location(), ": a short side of ", side, " is above data.max_side (", c.max_side,
              "), which caps the longer side");
  GHM_CHECK(c.test_short_side <= c.max_side, d.at("test_short_side").location(), ": ", c.test_short_side,
            " is above data.max_side (", c.max_side, "), which caps the longer side");
  c.flip = number_in(d.at("flip"), 0.0, 1.0);
  c.mean = three_numbers(d.at("mean"));
  c.std = three_numbers(d.at("std"));
  for (float s : c.std) GHM_CHECK(s > 0, d.at("std").location(), ": std values must be positive");
  c.filter_empty = d.at("filter_empty").as_bool();
  c.skip_bad_images = d.at("skip_bad_images").as_bool();
  c.workers = non_negative_int(d.at("workers"));
  GHM_CHECK(c.workers <= max_thread_count(), d.at("workers").location(), ": ", c.workers,
            " loader threads is more than 4 x the cores (", max_thread_count(), ")");
  c.prefetch = int_in(d.at("prefetch"), 1, 64, "prefetch");
  c.group_by_aspect = d.at("group_by_aspect").as_bool();
  return c;
}

TrainConfig train_config(const io::Json& config) {
  const io::Json& t = config.at("train");
  TrainConfig c;
  c.batch_size = int_in(t.at("batch_size"), 1, kMaxBatch, "batch_size");
  c.epochs = positive_int(t.at("epochs"), "epochs");
  c.sgd.lr = number_in(t.at("lr"), 0.0, 10.0);
  c.sgd.momentum = number_in(t.at("momentum"), 0.0, 0.999);
  c.sgd.weight_decay = number_in(t.at("weight_decay"), 0.0, 1.0);
  c.sgd.decay_norm_and_bias = t.at("decay_norm_and_bias").as_bool();
  c.clip_grad = number_in(t.at("clip_grad"), 0.0, 1e9);
  c.warmup_iters = non_negative_int(t.at("warmup_iters"));
  c.warmup_ratio = number_in(t.at("warmup_ratio"), 0.0, 1.0);
  c.step_epochs = int_list(t.at("steps"), true);
  c.gamma = number_in(t.at("gamma"), 0.0, 1.0);
  const std::int64_t seed = t.at("seed").as_int();
  GHM_CHECK(seed >= 0, t.at("seed").location(), ": seed must be non-negative, got ", seed);
  c.seed = static_cast<std::uint64_t>(seed);
  c.threads = non_negative_int(t.at("threads"));  // 0: all cores
  GHM_CHECK(c.threads <= max_thread_count(), t.at("threads").location(), ": ", c.threads,
            " compute threads is more than 4 x the cores (", max_thread_count(), ")");
  c.log_interval = positive_int(t.at("log_interval"), "log_interval");
  c.checkpoint_interval = non_negative_int(t.at("checkpoint_interval"));
  c.keep_checkpoints = positive_int(t.at("keep_checkpoints"), "keep_checkpoints");
  c.eval_interval = non_negative_int(t.at("eval_interval"));
  c.init_weights = t.at("init_weights").as_string();
  c.device = t.at("device").as_string();
  c.precision = precision_key(t.at("precision"));
  c.loss_scale = loss_scale_config(t, c.precision);
  c.assigner.pos_iou_thr = number_in(t.at("pos_iou"), 0.0, 1.0);
  c.assigner.neg_iou_thr = number_in(t.at("neg_iou"), 0.0, 1.0);
  c.assigner.min_pos_iou = number_in(t.at("min_pos_iou"), 0.0, 1.0);
  GHM_CHECK(c.assigner.neg_iou_thr <= c.assigner.pos_iou_thr, t.at("neg_iou").location(), ": neg_iou (",
            c.assigner.neg_iou_thr, ") must not exceed pos_iou (", c.assigner.pos_iou_thr, ")");
  return c;
}

DistConfig dist_config(const io::Json& config) {
  const io::Json& d = config.at("dist");
  DistConfig c;
  c.num_pos = one_of(d.at("num_pos"), {"rank", "mean"}) == "mean" ? NumPosScope::Mean : NumPosScope::Rank;
  c.ghm_counts = one_of(d.at("ghm_counts"), {"rank", "sum"}) == "sum" ? GhmCountScope::Sum : GhmCountScope::Rank;
  c.bucket_bytes = static_cast<std::size_t>(int_in(d.at("bucket_mb"), 1, 4096, "bucket_mb")) << 20;
  c.grad_precision = one_of(d.at("grad_precision"), {"fp32", "bf16"}) == "bf16" ? Precision::BF16 : Precision::F32;
  return c;
}

namespace {

// An integer key whose range a later check decides; here only that it fits an int.
int int_value(const io::Json& v) {
  const std::int64_t x = v.as_int();
  GHM_CHECK(x >= std::numeric_limits<int>::min() && x <= std::numeric_limits<int>::max(), v.location(), ": ", x,
            " does not fit a 32-bit integer");
  return static_cast<int>(x);
}

// A number read as float32, as number_in reads every number of the config (momentum 0.7 becomes
// 0.699999988, the value runs have always used); its range is checked by whoever uses it.
float float_value(const io::Json& v) { return static_cast<float>(v.as_double()); }

// The keys of a loss section's GHM settings, so that losses::GhmSettings, which checks them, names
// the key and its place in the config file.
losses::GhmSettingNames ghm_keys(const io::Json& section) {
  losses::GhmSettingNames names{section.at("bins").location(), section.at("momentum").location(),
                                section.at("loss_weight").location(), ""};
  if (section.contains("mu")) names.mu = section.at("mu").location();
  return names;
}

}  // namespace

// The GHM settings of both sections are made (and so checked) whatever the types: GHM-C's bins also
// set ghmc_exact's window, and loss_weight (and GHM-R's mu) serve the other losses of the section.
detection::DetectionLossConfig loss_config(const io::Json& config) {
  const io::Json& cls = config.at("loss").at("cls");
  const io::Json& reg = config.at("loss").at("reg");
  detection::DetectionLossConfig c;
  const std::string ct = one_of(cls.at("type"), {"ghmc", "ghmc_exact", "focal", "ce"});
  c.cls.kind = ct == "ghmc"         ? detection::ClsLossKind::GhmC
               : ct == "ghmc_exact" ? detection::ClsLossKind::GhmCExact
               : ct == "focal"      ? detection::ClsLossKind::Focal
                                    : detection::ClsLossKind::CrossEntropy;
  c.cls.ghmc = losses::GhmSettings::classification(int_value(cls.at("bins")), float_value(cls.at("momentum")),
                                                   float_value(cls.at("loss_weight")), ghm_keys(cls));
  c.cls.scope = scope_of(cls.at("scope"));
  c.cls.alpha = number_in(cls.at("alpha"), 0.0, 1.0);
  c.cls.gamma = number_in(cls.at("gamma"), 0.0, 100.0);
  c.cls.loss_weight = c.cls.ghmc.loss_weight();
  const std::string rt = one_of(reg.at("type"), {"ghmr", "sl1", "asl1"});
  c.reg.kind = rt == "ghmr" ? detection::RegLossKind::GhmR
               : rt == "sl1" ? detection::RegLossKind::SmoothL1
                             : detection::RegLossKind::Asl1;
  c.reg.ghmr = losses::GhmSettings::regression(float_value(reg.at("mu")), int_value(reg.at("bins")),
                                               float_value(reg.at("momentum")), float_value(reg.at("loss_weight")),
                                               ghm_keys(reg));
  c.reg.mu = c.reg.ghmr.mu();
  c.reg.scope = scope_of(reg.at("scope"));
  c.reg.beta = number_in(reg.at("beta"), 1e-9, 1e6);
  c.reg.loss_weight = c.reg.ghmr.loss_weight();
  return c;
}

PretrainConfig pretrain_config(const io::Json& config) {
  const io::Json& p = config.at("pretrain");
  PretrainConfig c;
  c.image_size = int_in(p.at("image_size"), 32, 1024, "image_size");
  c.train_images = int_in(p.at("train_images"), 1, 10'000'000, "train_images");
  c.val_images = int_in(p.at("val_images"), 0, 10'000'000, "val_images");
  GHM_CHECK(std::int64_t{c.image_size} * c.image_size * 3 * (std::int64_t{c.train_images} + c.val_images) <=
                (std::int64_t{16} << 30),
            p.at("train_images").location(), ": ", c.train_images, " + ", c.val_images, " images of ", c.image_size,
            " px would take more than 16 GiB of memory");
  const std::int64_t seed = p.at("seed").as_int();
  GHM_CHECK(seed >= 0, p.at("seed").location(), ": seed must be non-negative, got ", seed);
  c.seed = static_cast<std::uint64_t>(seed);
  c.batch_size = int_in(p.at("batch_size"), 1, kMaxBatch, "batch_size");
  GHM_CHECK(c.train_images >= c.batch_size, p.at("train_images").location(), ": ", c.train_images,
            " training images are less than one batch of ", c.batch_size);
  c.epochs = positive_int(p.at("epochs"), "epochs");
  GHM_CHECK(std::int64_t{c.epochs} * (c.train_images / c.batch_size) <= std::numeric_limits<int>::max(),
            p.at("epochs").location(), ": ", c.epochs, " epochs of ", c.train_images / c.batch_size,
            " steps are more steps than the schedule counts (", std::numeric_limits<int>::max(), ")");
  c.sgd.lr = number_in(p.at("lr"), 0.0, 10.0);
  c.sgd.momentum = number_in(p.at("momentum"), 0, 1);
  c.sgd.weight_decay = number_in(p.at("weight_decay"), 0, 1);
  c.warmup_iters = non_negative_int(p.at("warmup_iters"));
  c.warmup_ratio = number_in(p.at("warmup_ratio"), 0, 1);
  c.step_epochs = int_list(p.at("steps"), true);
  for (std::size_t i = 0; i < c.step_epochs.size(); ++i)
    GHM_CHECK(i == 0 || c.step_epochs[i] > c.step_epochs[i - 1], p.at("steps").location(),
              ": steps must rise, got ", c.step_epochs[i], " after ", c.step_epochs[i - 1]);
  c.gamma = number_in(p.at("gamma"), 0, 1);
  c.threads = non_negative_int(p.at("threads"));
  GHM_CHECK(c.threads <= max_thread_count(), p.at("threads").location(), ": ", c.threads,
            " compute threads is more than 4 x the cores (", max_thread_count(), ")");
  c.log_interval = positive_int(p.at("log_interval"), "log_interval");
  c.device = p.at("device").as_string();
  c.precision = precision_key(p.at("precision"));
  c.zero_init_residual = p.at("zero_init_residual").as_bool();
  GHM_CHECK(c.precision != Precision::F16, p.at("precision").location(),
            ": fp16 needs dynamic loss scaling, which pretrain does not do: use bf16 (the same speed on tensor "
            "cores, float32's range) or fp32");
  return c;
}

TestConfig test_config(const io::Json& config) {
  const io::Json& t = config.at("test");
  TestConfig c;
  c.batch_size = int_in(t.at("batch_size"), 1, kMaxBatch, "batch_size");
  c.post.score_thresh = number_in(t.at("score_thresh"), 0.0, 1.0);
  c.post.topk_per_level = positive_int(t.at("topk_per_level"), "topk_per_level");
  c.post.nms_iou = number_in(t.at("nms_iou"), 0.0, 1.0);
  c.post.max_detections = positive_int(t.at("max_detections"), "max_detections");
  c.precision = precision_key(t.at("precision"));
  c.flip = t.at("flip").as_bool();
  const io::Json& sides = t.at("short_sides");
  for (std::size_t i = 0; i < sides.size(); ++i)
    c.short_sides.push_back(int_in(sides.at(i), 1, kMaxImageSide, "short_sides"));
  GHM_CHECK(c.short_sides.size() <= 8, sides.location(), ": ", c.short_sides.size(),
            " test sizes; at most 8 (each one runs the whole detector again)");
  c.fusion_iou = number_in(t.at("fusion_iou"), 0.0, 1.0);
  GHM_CHECK(c.fusion_iou > 0, t.at("fusion_iou").location(), ": fusion_iou must be above 0");
  return c;
}

int max_thread_count() { return 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

Device parse_device(const std::string& text, const std::string& where) {
  if (text == "cpu") return Device::cpu();
  int index = -1;
  if (text == "cuda") {
    index = 0;
  } else if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 7 &&
             text.find_first_not_of("0123456789", 5) == std::string::npos) {
    index = std::stoi(text.substr(5));
  }
  GHM_CHECK(index >= 0, where, ": device '", text, "' must be cpu, cuda or cuda:I");
  const CudaRuntimeInfo info = query_cuda_runtime();
  GHM_CHECK(info.compiled, where, ": device '", text, "': this build has no CUDA backend (", info.error, ")");
  GHM_CHECK(index < static_cast<int>(info.gpus.size()), where, ": device '", text, "': ",
            info.gpus.empty() ? "no usable CUDA GPU (" + info.error + ")"
                              : "only " + std::to_string(info.gpus.size()) + " GPU(s) found");
  return Device::cuda(index);
}

}  // namespace ghm::engine
