// `ghm_retinanet bench ops`: conv2d forward and backward throughput on the convolutions of
// RetinaNet ResNet-50-FPN (bench/retinanet_conv_shapes.txt, the file bench/torch_ops.py reads
// too, so both print the same table for the same shapes).
//
//   forward FLOPs  = 2 * N * O * HO * WO * (C / groups) * KH * KW
//   backward FLOPs = 2 * forward (grad input + grad weight), plus the bias sum
//
// --impl picks the kernels: onednn (core/cpu/conv_onednn.h, bias gradient fused into the weight
// gradient) or reference (core/cpu/conv_cpu.h); the default is the one conv2d dispatches to.
// --device cuda times the cuDNN kernels (core/cuda/conv_cudnn.h) instead: at least one warm-up run,
// so that the per-shape algorithm search is not timed, and each timed run ends with a device
// synchronisation; TF32 follows GHM_CUDA_TF32 (core/cuda/math_mode.h) and is reported.
// --size HxW times the shapes of another image size: the file describes 512x512 images, and every
// stride-2 layer of the network rounds up, so an extent E becomes ceil(E * size / 512).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "core/autograd.h"
#include "core/cpu/conv_cpu.h"
#if GHM_WITH_ONEDNN
#include "core/cpu/conv_onednn.h"
#endif
#include "core/cuda/math_mode.h"
#include "core/ops/conv.h"
#include "core/random.h"
#include "core/runtime_info.h"
#if GHM_WITH_CUDA
#include "core/cuda/conv_cudnn.h"
#include "core/cuda/device_guard.h"
#endif

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine
namespace {

struct ConvShape {
  std::string name;
  int count;
  std::int64_t n, c, h, w, o, kh, kw;
  int stride, pad, dilation, groups;
};

std::vector<ConvShape> read_shapes(const std::string& path) {
  std::ifstream in(path);
  GHM_CHECK(in.good(), "bench ops: cannot open the shapes file '", path, "' (use --shapes FILE)");
  std::vector<ConvShape> shapes;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    ConvShape s;
    ls >> s.name >> s.count >> s.n >> s.c >> s.h >> s.w >> s.o >> s.kh >> s.kw >> s.stride >> s.pad >> s.dilation >>
        s.groups;
    GHM_CHECK(!ls.fail(), "bench ops: ", path, ":", line_no, ": expected 13 fields (name count N C H W O kh kw stride pad "
              "dilation groups), got '", line, "'");
    shapes.push_back(s);
  }
  return shapes;
}

std::string default_shapes_path() {
  for (const std::string& p : {std::string("bench/retinanet_conv_shapes.txt"),
                              std::string(GHM_SOURCE_DIR) + "/bench/retinanet_conv_shapes.txt"})
    if (std::ifstream(p).good()) return p;
  return "bench/retinanet_conv_shapes.txt";
}

// The image size the shapes file describes (bench/retinanet_conv_shapes.txt: 2x3x512x512).
constexpr std::int64_t kShapesImageSize = 512;

struct ImageSize {
  std::int64_t h = kShapesImageSize, w = kShapesImageSize;
};

ImageSize parse_size(const std::string& text) {
  const std::size_t x = text.find('x');
  ImageSize s{0, 0};
  try {
    if (x != std::string::npos) s = {std::stoll(text.substr(0, x)), std::stoll(text.substr(x + 1))};
  } catch (const std::exception&) {
    s = {0, 0};
  }
  if (s.h < 1 || s.w < 1) throw UsageError("bench ops: --size must be HxW (e.g. 800x1216), got '" + text + "'");
  return s;
}

// An extent of the 512x512 file at image size `size` (top comment).
std::int64_t scale_extent(std::int64_t extent, std::int64_t size) {
  return (extent * size + kShapesImageSize - 1) / kShapesImageSize;
}

ConvCpuImpl parse_impl(const std::string& name) {
  if (name == "reference") return ConvCpuImpl::Reference;
  if (name != "onednn") throw UsageError("bench ops: --impl must be onednn or reference, got '" + name + "'");
  if (!GHM_WITH_ONEDNN) throw UsageError("bench ops: --impl onednn, but this build has no oneDNN (-DGHM_ONEDNN=ON)");
  return ConvCpuImpl::OneDnn;
}

// x: [N,C,H,W], weight: [O,C/G,KH,KW], bias: [O], y: [N,O,HO,WO]
void forward(ConvCpuImpl impl, const cpu::ConvGeometry& g, const float* x, const float* weight, const float* bias,
             float* y) {
#if GHM_WITH_ONEDNN
  if (impl == ConvCpuImpl::OneDnn) return cpu::onednn_conv2d_forward(g, x, weight, bias, y);
#endif
  cpu::conv2d_forward(g, x, weight, bias, y);
}

// dy: [N,O,HO,WO] -> dx: [N,C,H,W], dweight: [O,C/G,KH,KW], dbias: [O]
void backward(ConvCpuImpl impl, const cpu::ConvGeometry& g, const float* x, const float* weight, const float* dy,
              float* dx, float* dweight, float* dbias) {
#if GHM_WITH_ONEDNN
  if (impl == ConvCpuImpl::OneDnn) {
    cpu::onednn_conv2d_backward_data(g, dy, weight, dx);
    cpu::onednn_conv2d_backward_weight(g, x, dy, dweight, dbias);
    return;
  }
#endif
  cpu::conv2d_backward_data(g, dy, weight, dx);
  cpu::conv2d_backward_weight(g, x, dy, dweight);
  cpu::conv2d_backward_bias(g, dy, dbias);
}

#if GHM_WITH_CUDA
// The cuDNN kernels on `device`, then a device synchronisation (the host times finished work).
// x: [N,C,H,W], weight: [O,C/G,KH,KW], bias: [O], y: [N,O,HO,WO]
void cuda_forward(Device device, const cpu::ConvGeometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias,
                  Tensor& y) {
  {
    const cuda::DeviceGuard guard(device.index);
    cuda::conv2d_forward(g, x.device_data<float>(), weight.device_data<float>(), bias.device_data<float>(),
                         y.device_data<float>());
  }
  synchronize(device);  // the host times finished work
}

// dy: [N,O,HO,WO] -> dx: [N,C,H,W], dweight: [O,C/G,KH,KW], dbias: [O]
void cuda_backward(Device device, const cpu::ConvGeometry& g, const Tensor& x, const Tensor& weight, const Tensor& dy,
                   Tensor& dx, Tensor& dweight, Tensor& dbias) {
  {
    const cuda::DeviceGuard guard(device.index);
    cuda::conv2d_backward_data(g, dy.device_data<float>(), weight.device_data<float>(), dx.device_data<float>());
    cuda::conv2d_backward_weight(g, x.device_data<float>(), dy.device_data<float>(), dweight.device_data<float>());
    cuda::conv2d_backward_bias(g, dy.device_data<float>(), dbias.device_data<float>());
  }
  synchronize(device);  // the host times finished work
}
#endif

// "cuDNN 9.x.y on cuda:0 (<GPU name>), TF32 on"
std::string cuda_description(Device device) {
  const CudaRuntimeInfo info = query_cuda_runtime();
  const std::string gpu =
      device.index < static_cast<int>(info.gpus.size()) ? info.gpus[static_cast<std::size_t>(device.index)].name : "?";
  return str_cat("cuDNN ", info.cudnn_version, " on ", device, " (", gpu, "), TF32 ",
                 cuda::tf32_allowed() ? "on" : "off");
}

int bench_ops(const std::vector<std::string>& args) {
  int threads = omp_get_max_threads(), warmup = 1, repeats = 3;
  ConvCpuImpl impl = conv2d_cpu_impl();
  std::string shapes_path = default_shapes_path(), json_path, device_text = "cpu";
  ImageSize size;
  std::vector<std::string> only;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw UsageError("bench ops: option " + a + " needs a value");
      return args[++i];
    };
    if (a == "--threads") threads = std::stoi(value());
    else if (a == "--warmup") warmup = std::stoi(value());
    else if (a == "--repeats") repeats = std::stoi(value());
    else if (a == "--shapes") shapes_path = value();
    else if (a == "--json") json_path = value();
    else if (a == "--only") only.push_back(value());
    else if (a == "--impl") impl = parse_impl(value());
    else if (a == "--device") device_text = value();
    else if (a == "--size") size = parse_size(value());
    else if (a == "--help") {
      std::printf("usage: ghm_retinanet bench ops [--threads T] [--warmup W] [--repeats R] [--shapes FILE]\n"
                  "                               [--only NAME]... [--impl onednn|reference] [--json OUT]\n"
                  "                               [--device cpu|cuda[:I]] [--size HxW]\n"
                  "  --device cuda: the cuDNN kernels (at least one warm-up run: the algorithm search is not\n"
                  "                 timed; TF32 as GHM_CUDA_TF32 says, on by default); --impl is for the CPU\n"
                  "  --size HxW:    the shapes for HxW images (e.g. 800x1216) instead of the file's 512x512\n");
      return 0;
    } else throw UsageError("bench ops: unknown option '" + a + "'");
  }
  if (threads < 1 || repeats < 1 || warmup < 0) throw UsageError("bench ops: --threads and --repeats must be >= 1");
  const Device device = parse_device(device_text, "bench ops --device");
  if (device.is_cuda()) warmup = std::max(warmup, 1);  // a shape's first run searches its algorithms
  omp_set_num_threads(threads);
  std::vector<ConvShape> shapes = read_shapes(shapes_path);
  for (ConvShape& s : shapes) {
    s.h = scale_extent(s.h, size.h);
    s.w = scale_extent(s.w, size.w);
  }
  if (!only.empty()) {
    std::erase_if(shapes, [&](const ConvShape& s) { return std::find(only.begin(), only.end(), s.name) == only.end(); });
    GHM_CHECK(!shapes.empty(), "bench ops: no shape matches --only");
  }

  const std::string impl_name = device.is_cuda() ? "cudnn" : conv2d_cpu_impl_name(impl);
  if (device.is_cuda()) std::printf("ghm_retinanet conv2d, %s\n", cuda_description(device).c_str());
  else
    std::printf("ghm_retinanet conv2d, impl %s, threads %d, %s\n", conv2d_cpu_impl_name(impl), threads,
                cpu_features().c_str());
  std::printf("warm-up %d, median of %d", warmup, repeats);
  if (size.h != kShapesImageSize || size.w != kShapesImageSize)
    std::printf(", shapes for %lldx%lld images", static_cast<long long>(size.h), static_cast<long long>(size.w));
  std::printf("\n");
  char header[256];
  std::snprintf(header, sizeof header, "%-20s %5s  %-34s %7s %9s %8s %9s %8s", "name", "count", "N,C,H,W -> O, k/s/p/d/g",
                "GFLOP", "fwd ms", "fwd GF/s", "bwd ms", "bwd GF/s");
  std::printf("%s\n%s\n", header, std::string(std::string(header).size(), '-').c_str());

  Generator gen(0);
  NoGradGuard no_grad;
  double total_flops = 0, total_fwd = 0, total_bwd = 0;
  int total_count = 0;
  std::ostringstream json;
  json << "{\"device\": \"" << device << "\", \"impl\": \"" << impl_name << "\", \"threads\": " << threads;
  if (device.is_cuda()) json << ", \"tf32\": " << (cuda::tf32_allowed() ? "true" : "false");
  json << ", \"image_size\": [" << size.h << ", " << size.w << "], \"warmup\": " << warmup
       << ", \"repeats\": " << repeats << ", \"shapes\": [";
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    const ConvShape& s = shapes[k];
    const Conv2dParams p = Conv2dParams::square(s.stride, s.pad, s.dilation, s.groups);
    Tensor x = Tensor::normal(Shape{s.n, s.c, s.h, s.w}, 0, 1, gen).to(device);
    Tensor w = Tensor::normal(Shape{s.o, s.c / s.groups, s.kh, s.kw}, 0, 0.05f, gen).to(device);
    Tensor b = Tensor::normal(Shape{s.o}, 0, 0.05f, gen).to(device);
    Tensor y = conv2d(x, w, b, p);
    const cpu::ConvGeometry g{s.n, s.c, s.h, s.w, s.o, s.kh, s.kw, y.size(2), y.size(3), p};
    Tensor dy = Tensor::normal(y.shape(), 0, 1, gen).to(device);
    Tensor dx = Tensor::empty(x.shape(), DType::F32, device), dw = Tensor::empty(w.shape(), DType::F32, device),
           db = Tensor::empty(b.shape(), DType::F32, device);
    const double flops = 2.0 * s.n * s.o * g.ho * g.wo * (s.c / s.groups) * s.kh * s.kw;
    const double fwd = median_ms(warmup, repeats, [&] {
#if GHM_WITH_CUDA
      if (device.is_cuda()) return cuda_forward(device, g, x, w, b, y);
#endif
      forward(impl, g, x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>());
    });
    const double bwd = median_ms(warmup, repeats, [&] {
#if GHM_WITH_CUDA
      if (device.is_cuda()) return cuda_backward(device, g, x, w, dy, dx, dw, db);
#endif
      backward(impl, g, x.data<float>(), w.data<float>(), dy.data<float>(), dx.data<float>(), dw.data<float>(),
               db.data<float>());
    });
    char geometry[64];
    std::snprintf(geometry, sizeof geometry, "%lld,%lld,%lld,%lld -> %lld, %lldx%lld/%d/%d/%d/%d", (long long)s.n,
                  (long long)s.c, (long long)s.h, (long long)s.w, (long long)s.o, (long long)s.kh, (long long)s.kw,
                  s.stride, s.pad, s.dilation, s.groups);
    std::printf("%-20s %5d  %-34s %7.3f %9.2f %8.1f %9.2f %8.1f\n", s.name.c_str(), s.count, geometry, flops / 1e9, fwd,
                flops / fwd / 1e6, bwd, 2 * flops / bwd / 1e6);
    std::fflush(stdout);
    total_flops += s.count * flops;
    total_fwd += s.count * fwd;
    total_bwd += s.count * bwd;
    total_count += s.count;
    json << (k ? ", " : "") << "{\"name\": \"" << s.name << "\", \"count\": " << s.count << ", \"gflop_fwd\": "
         << flops / 1e9 << ", \"fwd_ms\": " << fwd << ", \"bwd_ms\": " << bwd << "}";
  }
  std::printf("%s\n", std::string(std::string(header).size(), '-').c_str());
  const std::string label = std::to_string(total_count) + " convs, count-weighted";
  std::printf("%-20s %5d  %-34s %7.3f %9.2f %8.1f %9.2f %8.1f\n", "total", total_count, label.c_str(),
              total_flops / 1e9, total_fwd, total_flops / total_fwd / 1e6, total_bwd, 2 * total_flops / total_bwd / 1e6);
  json << "], \"total\": {\"num_convs\": " << total_count << ", \"gflop_fwd\": " << total_flops / 1e9
       << ", \"fwd_ms\": " << total_fwd << ", \"bwd_ms\": " << total_bwd << "}}\n";
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    GHM_CHECK(out.good(), "bench ops: cannot write '", json_path, "'");
    out << json.str();
  }
  return 0;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help") {
    std::printf("usage: ghm_retinanet bench <suite> [options]\n\nsuites:\n"
                "  ops        conv2d forward/backward GFLOP/s on the RetinaNet R50-FPN shapes\n"
                "  loss       GHM-C, GHM-R, BCE and focal loss + gradient at RetinaNet sizes\n"
                "  coco-load  load time and peak memory of a COCO instances file\n"
                "  loader     training data pipeline images/s (decode, resize, flip, normalise, collate)\n"
                "  train      RetinaNet training step or inference time, peak memory, per-op profile\n"
                "  elementwise  GB/s of the elementwise and reduction kernels against a copy (CPU or CUDA)\n");
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "ops") return bench_ops(rest);
  if (args[0] == "loss") return bench_loss(rest);
  if (args[0] == "coco-load") return bench_coco_load(rest);
  if (args[0] == "loader") return bench_loader(rest);
  if (args[0] == "train") return bench_train(rest);
  if (args[0] == "elementwise") return bench_elementwise(rest);
  throw UsageError("bench: unknown suite '" + args[0] + "'");
}

}  // namespace ghm::app
