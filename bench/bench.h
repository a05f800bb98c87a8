// The C++ benchmark suites, each beside the Python peer it is compared with: one options struct
// and one run function per suite. The command line, `ghm_retinanet bench <suite> [options]`, is
// apps/cmd_bench.cpp; the defaults here are the ones its --help shows. Each run function prints
// its table to stdout, writes the JSON file it is given, and returns the exit code (0).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"     // Device
#include "core/ops/conv.h"  // ConvCpuImpl
#include "core/precision.h"

namespace ghm::bench {

// An image size in pixels.
struct ImageSize {
  std::int64_t height = 0, width = 0;
};

// `bench ops` (peer: torch_ops.py): conv2d forward and backward GFLOP/s on the RetinaNet R50-FPN
// convolutions of a shapes file.
constexpr std::int64_t kConvShapesImageSize = 512;  // the image side the shapes file describes
struct OpsBenchOptions {
  int threads = 1;
  int warmup = 1, repeats = 3;  // on CUDA at least one warm-up run (the algorithm search)
  std::string shapes_file = "bench/retinanet_conv_shapes.txt";  // relative: see resolve_source_file
  std::vector<std::string> only;  // the shape names to time; empty: all
  ConvCpuImpl impl = conv2d_cpu_impl();
  Precision precision = Precision::F32;  // bf16 (oneDNN on the CPU, cuDNN) or fp16 (cuDNN)
  Device device = Device::cpu();
  ImageSize size{kConvShapesImageSize, kConvShapesImageSize};  // the extents are scaled to this
  std::string json_out;                                       // "" = none
};
int run_ops_bench(const OpsBenchOptions& o);

// `bench loss` (peer: torch_losses.py): fused loss + gradient time of BCE, GHM-C, focal and GHM-R
// on N x 80 logits, one row per size and thread count.
struct LossBenchOptions {
  std::vector<int> threads = {1, 2};  // on CUDA the host threads hardly matter: one run
  std::vector<std::int64_t> sizes = {240000, 100000};
  int warmup = 1, repeats = 5;
  Device device = Device::cpu();
  std::string json_out;
};
int run_loss_bench(const LossBenchOptions& o);

// `bench coco-load` (peer: coco_load.py): load time and peak memory of a COCO instances file.
struct CocoLoadBenchOptions {
  std::string instances;
  int repeats = 1;
  bool drop_empty = false;  // leave out images without a non-crowd box
};
int run_coco_load_bench(const CocoLoadBenchOptions& o);

// `bench loader` (peer: loader.py): images/s of the training data pipeline per worker count, and
// its decode, resize and normalise stages on one thread.
struct LoaderBenchOptions {
  std::string instances, image_root, json_out;
  std::vector<int> workers = {1};  // 0: the consumer thread loads the batches itself
  std::int64_t images_count = 0;   // samples per epoch; 0: the whole set once
  int epochs = 1;
  int warmup_batches = 4;
  int short_side = 800, max_side = 1333, size_divisor = 32, batch = 2;
  bool decode_only = false;
};
int run_loader_bench(const LoaderBenchOptions& o);

// `bench train` (peer: torch_detection.py): one RetinaNet training step or inference on a
// synthetic batch: median time, peak memory, and with `profile` the time of every op.
enum class TrainBenchMode { Train, Infer };
struct TrainBenchOptions {
  std::string config = "configs/retinanet_r50_fpn_torchvision.yaml";  // relative: see resolve_source_file
  std::vector<std::string> overrides;  // key=value, applied to the config in order
  TrainBenchMode mode = TrainBenchMode::Train;
  int batch = 2;
  ImageSize size{512, 512};
  int boxes = 8;
  int threads = 2, warmup = 1, repeats = 3;
  bool profile = false;
  std::string json_out;
  std::string weights, input;  // "" = random weights, a random batch
  Device device = Device::cpu();
};
int run_train_bench(const TrainBenchOptions& o);

// `bench elementwise`: GB/s of the elementwise and reduction kernels against a copy.
struct ElementwiseBenchOptions {
  Device device = Device::cpu();
  std::int64_t elements = 0;  // 0: 2^26 on CUDA, 2^24 on the CPU
  int warmup = 3, repeats = 20;
  std::string json_out;
};
int run_elementwise_bench(const ElementwiseBenchOptions& o);

// `bench parse` (no peer: the figure is the growth, t(2N) / t(N)): the JSON reader and the YAML
// parser on one object of N keys and of 2N keys.
struct ParseBenchOptions {
  std::vector<std::int64_t> keys = {10000, 100000, 1000000};
  int warmup = 1, repeats = 3;
  std::string json_out;
};
int run_parse_bench(const ParseBenchOptions& o);

}  // namespace ghm::bench
