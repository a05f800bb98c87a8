// `ghm_retinanet bench <suite>`: the options of the benchmark suites, one subcommand each; the
// suites themselves are bench/bench.h.
#include <omp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "bench/bench.h"
#include "engine/config.h"

namespace ghm::app {
namespace {

constexpr int kMaxRuns = 1'000'000;  // warm-up and timed runs
constexpr std::int64_t kMaxRows = std::int64_t{1} << 31;

CLI::Option* add_runs(CLI::App& suite, int& warmup, int& repeats) {
  suite.add_option("--warmup", warmup, "untimed runs before the timed ones")->check(cli::integer_in(0, kMaxRuns));
  return suite.add_option("--repeats", repeats, "timed runs; the median is reported")
      ->check(cli::integer_in(1, kMaxRuns));
}

CLI::Option* add_json_out(CLI::App& suite, std::string& path) {
  return suite.add_option("--json", path, "also write the results as JSON to this file")->type_name("OUT");
}

// A suite's options and the text of its --device, parsed when the suite runs.
template <class Options>
struct DeviceArgs {
  Options o;
  std::string device = "cpu";
};

// Parses --device into the suite's options and runs the suite.
template <class Options>
int run_on_device(DeviceArgs<Options>& a, const std::string& suite, int (*run)(const Options&)) {
  a.o.device = engine::parse_device(a.device, "bench " + suite + " --device");
  return run(a.o);
}

struct OpsArgs : DeviceArgs<bench::OpsBenchOptions> {
  std::string impl = o.impl == ConvCpuImpl::OneDnn ? "onednn" : "reference";
  std::string precision = "fp32";
};

CLI::App* declare_ops(CLI::App& app, OpsArgs& a) {
  CLI::App* c = app.add_subcommand("ops", "conv2d forward/backward GFLOP/s on the RetinaNet R50-FPN shapes");
  a.o.threads = std::min(omp_get_max_threads(), engine::max_thread_count());
  c->add_option("--threads", a.o.threads, "OpenMP threads")->check(cli::thread_count());
  add_runs(*c, a.o.warmup, a.o.repeats);
  c->add_option("--shapes", a.o.shapes_file,
                "the convolutions, one per line (see the file's header); a relative path missing here is "
                "read from the source tree ($GHM_SOURCE_DIR, else the one built from)")
      ->type_name("FILE");
  c->add_option("--only", a.o.only, "time only the shape of this name; repeatable")
      ->allow_extra_args(false)
      ->default_str("");
  c->add_option("--impl", a.impl, "the CPU kernels")->check(CLI::IsMember({"onednn", "reference"}));
  c->add_option("--precision", a.precision,
                "operands of the products: fp32, bf16 (oneDNN on the CPU, cuDNN) or fp16 (cuDNN); float32 sums")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  add_json_out(*c, a.o.json_out);
  cli::add_device(*c, a.device);
  cli::add_size(*c, "--size", a.o.size.height, a.o.size.width, 1,
                "the shapes for HxW images instead of the file's 512x512 (extents scale, rounded up)");
  c->footer(
      "--device cuda times the cuDNN kernels: at least one warm-up run (the algorithm search is not timed);\n"
      "TF32 as GHM_CUDA_TF32 says (on by default). --impl is for the CPU.");
  return c;
}

int run_ops(OpsArgs& a) {
  if (a.impl == "onednn" && !GHM_WITH_ONEDNN)
    throw UsageError("bench ops: --impl onednn, but this build has no oneDNN (-DGHM_ONEDNN=ON)");
  a.o.impl = a.impl == "onednn" ? ConvCpuImpl::OneDnn : ConvCpuImpl::Reference;
  a.o.precision = parse_precision(a.precision, "bench ops --precision");
  if (a.o.precision != Precision::F32 && a.device == "cpu") {
    if (a.o.impl != ConvCpuImpl::OneDnn)
      throw UsageError("bench ops: --precision " + a.precision + " on the CPU needs --impl onednn");
    check_precision(a.o.precision, Device::cpu(), "bench ops --precision");
  }
  return run_on_device(a, "ops", bench::run_ops_bench);
}

using LossArgs = DeviceArgs<bench::LossBenchOptions>;

CLI::App* declare_loss(CLI::App& app, LossArgs& a) {
  CLI::App* c = app.add_subcommand("loss", "GHM-C, GHM-R, BCE and focal loss + gradient at RetinaNet sizes");
  cli::comma_list(c->add_option("--threads", a.o.threads, "OpenMP thread counts, one row each (CPU)"))
      ->check(cli::thread_count());
  cli::comma_list(c->add_option("--size", a.o.sizes, "rows N of the N x 80 logits, one table each"))
      ->type_name("N")
      ->check(cli::integer_in(1, kMaxRows));
  add_runs(*c, a.o.warmup, a.o.repeats);
  add_json_out(*c, a.o.json_out);
  cli::add_device(*c, a.device);
  return c;
}

CLI::App* declare_coco_load(CLI::App& app, bench::CocoLoadBenchOptions& o) {
  CLI::App* c = app.add_subcommand("coco-load", "load time and peak memory of a COCO instances file");
  c->add_option("--json", o.instances, "the COCO instances file")->type_name("INSTANCES.json")->required();
  c->add_option("--repeats", o.repeats, "loads; the median time is reported")->check(cli::integer_in(1, kMaxRuns));
  c->add_flag("--drop-empty", o.drop_empty, "leave out images without a non-crowd box");
  c->footer("Prints the counts, the median time and the peak resident memory.");
  return c;
}

CLI::App* declare_loader(CLI::App& app, bench::LoaderBenchOptions& o) {
  CLI::App* c =
      app.add_subcommand("loader", "training data pipeline images/s (decode, resize, flip, normalise, collate)");
  c->add_option("--json", o.instances, "the COCO instances file")->type_name("ANN.json")->required();
  c->add_option("--images", o.image_root, "the folder its file_names are relative to")->type_name("DIR")->required();
  cli::comma_list(c->add_option("--workers", o.workers, "loader threads, one run each; 0 loads in the main thread"))
      ->type_name("W[,W...]")
      ->check(cli::integer_in(0, engine::max_thread_count()));
  c->add_option("--images-count", o.images_count, "samples per epoch (cycling through the set); 0: the whole set")
      ->type_name("N")
      ->check(cli::integer_in(0, kMaxRows));
  c->add_option("--epochs", o.epochs, "epochs timed")->check(cli::integer_in(1, kMaxRuns));
  c->add_option("--warmup", o.warmup_batches, "untimed batches first")->check(cli::integer_in(0, kMaxRuns));
  c->add_option("--short-side", o.short_side, "resize: the shorter side")->check(cli::integer_in(1, 1 << 16));
  c->add_option("--max-side", o.max_side, "resize: the longer side at most")->check(cli::integer_in(1, 1 << 16));
  c->add_option("--size-divisor", o.size_divisor, "pad batches to a multiple of this")
      ->check(cli::integer_in(1, 1 << 12));
  c->add_option("--batch", o.batch, "images per batch")->check(cli::integer_in(1, 1 << 12));
  c->add_flag("--decode-only", o.decode_only, "time the decode stage alone");
  c->add_option("--json-out", o.json_out, "also write the results as JSON to this file")->type_name("FILE");
  c->footer("Also times the decode, resize and normalise stages alone on one thread.");
  return c;
}

int run_loader(const bench::LoaderBenchOptions& o) {
  if (o.short_side > o.max_side)
    throw UsageError("bench loader: --short-side " + std::to_string(o.short_side) + " is larger than --max-side " +
                     std::to_string(o.max_side));
  return bench::run_loader_bench(o);
}

struct TrainArgs : DeviceArgs<bench::TrainBenchOptions> {
  int depth = 0;  // 0: the config's
  std::string mode = "train";
  std::string precision;  // "": the config's
};

CLI::App* declare_train(CLI::App& app, TrainArgs& a) {
  CLI::App* c = app.add_subcommand("train", "training step or inference time of the config's detector (RetinaNet or Faster R-CNN), peak memory, per-op profile");
  c->add_option("--config", a.o.config,
                "the model (random weights); a relative path missing here is read from the source tree "
                "($GHM_SOURCE_DIR, else the one built from)")
      ->type_name("CFG.yaml");
  cli::add_overrides(*c, a.o.overrides);
  c->add_option("--depth", a.depth, "ResNet depth (model.backbone.depth); 0: the config's")
      ->check(CLI::IsMember({0, 18, 34, 50, 101, 152}));
  c->add_option("--mode", a.mode, "a training step, or an inference (forward + post-processing)")
      ->check(CLI::IsMember({"train", "infer"}));
  c->add_option("--precision", a.precision,
                "the convolutions' precision (train.precision, or test.precision with --mode infer); default: the "
                "config's")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  c->add_option("--batch", a.o.batch, "images per batch")->check(cli::integer_in(1, 1 << 12));
  cli::add_size(*c, "--size", a.o.size.height, a.o.size.width, 32, "image size");
  c->add_option("--boxes", a.o.boxes, "synthetic boxes per image")->check(cli::integer_in(0, 1 << 16));
  c->add_option("--threads", a.o.threads, "OpenMP threads")->check(cli::thread_count());
  add_runs(*c, a.o.warmup, a.o.repeats);
  c->add_flag("--profile", a.o.profile, "add the time of every op");
  add_json_out(*c, a.o.json_out);
  c->add_option("--weights", a.o.weights, "the model's weights instead of random ones")->type_name("W.safetensors");
  c->add_option("--input", a.o.input, "the batch ('image' [N, 3, H, W]) instead of a random one")
      ->type_name("X.safetensors");
  cli::add_device(*c, a.device);
  c->footer(
      "--weights / --input: e.g. those bench/torch_detection.py --export writes (the same network on both sides).\n"
      "--device cuda: the model, batch and losses on the GPU (targets are assigned on the CPU and copied,\n"
      "post-processing runs on the CPU); each timed run ends with a device synchronisation, and the peak of\n"
      "the device allocator is reported next to the process's.\n"
      "Memory: peak_rss_mib is the process's high-water mark; peak_tensor_mib the most bytes live host\n"
      "tensors held at once during the timed runs (what the precision and the kept activations change).");
  return c;
}

int run_train(TrainArgs& a) {
  if (a.depth != 0) a.o.overrides.push_back("model.backbone.depth=" + std::to_string(a.depth));
  a.o.mode = a.mode == "train" ? bench::TrainBenchMode::Train : bench::TrainBenchMode::Infer;
  if (!a.precision.empty())
    a.o.overrides.push_back((a.mode == "train" ? "train.precision=" : "test.precision=") + a.precision);
  return run_on_device(a, "train", bench::run_train_bench);
}

using ElementwiseArgs = DeviceArgs<bench::ElementwiseBenchOptions>;

CLI::App* declare_elementwise(CLI::App& app, ElementwiseArgs& a) {
  CLI::App* c = app.add_subcommand("elementwise", "GB/s of the elementwise and reduction kernels against a copy");
  cli::add_device(*c, a.device);
  c->add_option("--elements", a.o.elements,
                "floats per tensor, rounded up to rows of 1024; 0: 2^26 on CUDA, 2^24 on the CPU")
      ->type_name("N")
      ->check(cli::integer_in(0, std::int64_t{1} << 34));
  add_runs(*c, a.o.warmup, a.o.repeats);
  add_json_out(*c, a.o.json_out);
  c->footer("add, mul, broadcast add, relu, sigmoid, exp, relu forward+backward and sum, each next to the copy\n"
            "bandwidth.");
  return c;
}

CLI::App* declare_parse(CLI::App& app, bench::ParseBenchOptions& o) {
  CLI::App* c = app.add_subcommand("parse", "JSON reader and YAML parser time on one object of N keys, and of 2N");
  c->add_option("--keys", o.keys, "N, one row per value; repeatable")
      ->default_str("10000 100000 1000000")
      ->check(cli::integer_in(1, std::int64_t{1} << 24));
  add_runs(*c, o.warmup, o.repeats);
  add_json_out(*c, o.json_out);
  c->footer("Linear parsers take about twice as long for twice the keys: the x/doubling column (t(2N) / t(N)).");
  return c;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
  const auto app = cli::make_command("bench", "benchmarks, each beside its Python peer (bench/run_all.sh runs both)");
  app->require_subcommand(0, 1);  // none: named below, after an unknown word has been reported
  OpsArgs ops;
  LossArgs loss;
  bench::CocoLoadBenchOptions coco_load;
  bench::LoaderBenchOptions loader;
  TrainArgs train;
  ElementwiseArgs elementwise;
  bench::ParseBenchOptions parse;
  const CLI::App* ops_suite = declare_ops(*app, ops);
  const CLI::App* loss_suite = declare_loss(*app, loss);
  const CLI::App* coco_load_suite = declare_coco_load(*app, coco_load);
  const CLI::App* loader_suite = declare_loader(*app, loader);
  const CLI::App* train_suite = declare_train(*app, train);
  const CLI::App* elementwise_suite = declare_elementwise(*app, elementwise);
  const CLI::App* parse_suite = declare_parse(*app, parse);
  if (!cli::parse(*app, args)) return 0;
  if (ops_suite->parsed()) return run_ops(ops);
  if (loss_suite->parsed()) return run_on_device(loss, "loss", bench::run_loss_bench);
  if (coco_load_suite->parsed()) return bench::run_coco_load_bench(coco_load);
  if (loader_suite->parsed()) return run_loader(loader);
  if (train_suite->parsed()) return run_train(train);
  if (elementwise_suite->parsed()) return run_on_device(elementwise, "elementwise", bench::run_elementwise_bench);
  if (parse_suite->parsed()) return bench::run_parse_bench(parse);
  throw UsageError("bench: name a suite: ops, loss, coco-load, loader, train, elementwise or parse");
}

}  // namespace ghm::app
