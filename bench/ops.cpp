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
// --precision bf16 runs the oneDNN kernels with bf16 operands and float32 accumulation (CPU), or
// cuDNN's in bf16 / fp16 including the conversions to and from 16 bits (CUDA); the buffers stay
// float32, as conv2d under an AutocastScope.
// --size HxW times the shapes of another image size: the file describes 512x512 images, and every
// stride-2 layer of the network rounds up, so an extent E becomes ceil(E * size / 512).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "bench/timing.h"
#include "core/autograd.h"
#include "core/cpu/conv_cpu.h"
#if GHM_WITH_ONEDNN
#include "core/cpu/conv_onednn.h"
#endif
#include "core/cuda/math_mode.h"
#include "core/ops/conv.h"
#include "core/precision.h"
#include "core/random.h"
#include "core/runtime_info.h"
#include "core/source_tree.h"
#include "io/output_file.h"
#if GHM_WITH_CUDA
#include "core/cuda/conv_cudnn.h"
#include "core/cuda/device_guard.h"
#endif

namespace ghm::bench {
namespace {

struct ConvShape {
  std::string name;
  int count;
  std::int64_t n, c, h, w, o, kh, kw;
  int stride, pad, dilation, groups;
};

std::vector<ConvShape> read_shapes(const std::string& path) {
  std::ifstream in(path);
  GHM_CHECK(in.good(), "bench ops: cannot open the shapes file '", path, "'");
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

// An extent of the 512x512 file at image size `size` (top comment).
std::int64_t scale_extent(std::int64_t extent, std::int64_t size) {
  return (extent * size + kConvShapesImageSize - 1) / kConvShapesImageSize;
}

// x: [N,C,H,W], weight: [O,C/G,KH,KW], bias: [O], y: [N,O,HO,WO]
void forward(ConvCpuImpl impl, Precision math, const cpu::ConvGeometry& g, const float* x, const float* weight, const float* bias,
             float* y) {
#if GHM_WITH_ONEDNN
  if (impl == ConvCpuImpl::OneDnn) return cpu::onednn_conv2d_forward(g, x, weight, bias, y, false, math);
#endif
  GHM_CHECK(math == Precision::F32, "bench ops: --precision ", precision_name(math), " needs --impl onednn");
  cpu::conv2d_forward(g, x, weight, bias, y);
}

// dy: [N,O,HO,WO] -> dx: [N,C,H,W], dweight: [O,C/G,KH,KW], dbias: [O]
void backward(ConvCpuImpl impl, Precision math, const cpu::ConvGeometry& g, const float* x, const float* weight, const float* dy,
              float* dx, float* dweight, float* dbias) {
#if GHM_WITH_ONEDNN
  if (impl == ConvCpuImpl::OneDnn) {
    cpu::onednn_conv2d_backward_data(g, dy, weight, dx, math);
    cpu::onednn_conv2d_backward_weight(g, x, dy, dweight, dbias, math);
    return;
  }
#endif
  GHM_CHECK(math == Precision::F32, "bench ops: --precision ", precision_name(math), " needs --impl onednn");
  cpu::conv2d_backward_data(g, dy, weight, dx);
  cpu::conv2d_backward_weight(g, x, dy, dweight);
  cpu::conv2d_backward_bias(g, dy, dbias);
}

#if GHM_WITH_CUDA
// The cuDNN kernels on `device`, then a device synchronisation (the host times finished work).
// x: [N,C,H,W], weight: [O,C/G,KH,KW], bias: [O], y: [N,O,HO,WO]
void cuda_forward(Device device, Precision math, const cpu::ConvGeometry& g, const Tensor& x, const Tensor& weight,
                  const Tensor& bias, Tensor& y) {
  {
    const cuda::DeviceGuard guard(device.index);
    cuda::conv2d_forward(g, x.device_data<float>(), weight.device_data<float>(), bias.device_data<float>(),
                         y.device_data<float>(), cuda::ConvActivation::None, math);
  }
  synchronize(device);  // the host times finished work
}

// dy: [N,O,HO,WO] -> dx: [N,C,H,W], dweight: [O,C/G,KH,KW], dbias: [O]
void cuda_backward(Device device, Precision math, const cpu::ConvGeometry& g, const Tensor& x, const Tensor& weight,
                   const Tensor& dy, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  {
    const cuda::DeviceGuard guard(device.index);
    cuda::conv2d_backward_data(g, dy.device_data<float>(), weight.device_data<float>(), dx.device_data<float>(), math);
    cuda::conv2d_backward_weight(g, x.device_data<float>(), dy.device_data<float>(), dweight.device_data<float>(),
                                 math);
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

// The median forward and backward times of one convolution shape on random inputs.
struct ShapeTiming {
  double flops = 0, fwd_ms = 0, bwd_ms = 0;  // flops of the forward pass
};

ShapeTiming time_shape(const ConvShape& s, ConvCpuImpl impl, Precision math, Device device, int warmup, int repeats, Generator& gen) {
  ShapeTiming t;
  const Conv2dParams p = Conv2dParams::square(s.stride, s.pad, s.dilation, s.groups);
  Tensor x = Tensor::normal(Shape{s.n, s.c, s.h, s.w}, 0, 1, gen).to(device);
  Tensor w = Tensor::normal(Shape{s.o, s.c / s.groups, s.kh, s.kw}, 0, 0.05f, gen).to(device);
  Tensor b = Tensor::normal(Shape{s.o}, 0, 0.05f, gen).to(device);
  Tensor y = conv2d(x, w, b, p);
  const cpu::ConvGeometry g{s.n, s.c, s.h, s.w, s.o, s.kh, s.kw, y.size(2), y.size(3), p};
  Tensor dy = Tensor::normal(y.shape(), 0, 1, gen).to(device);
  Tensor dx = Tensor::empty(x.shape(), DType::F32, device), dw = Tensor::empty(w.shape(), DType::F32, device),
         db = Tensor::empty(b.shape(), DType::F32, device);
  t.flops = 2.0 * s.n * s.o * g.ho * g.wo * (s.c / s.groups) * s.kh * s.kw;
  t.fwd_ms = median_ms(warmup, repeats, [&] {
#if GHM_WITH_CUDA
    if (device.is_cuda()) return cuda_forward(device, math, g, x, w, b, y);
#endif
    forward(impl, math, g, x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>());
  });
  t.bwd_ms = median_ms(warmup, repeats, [&] {
#if GHM_WITH_CUDA
    if (device.is_cuda()) return cuda_backward(device, math, g, x, w, dy, dx, dw, db);
#endif
    backward(impl, math, g, x.data<float>(), w.data<float>(), dy.data<float>(), dx.data<float>(), dw.data<float>(),
             db.data<float>());
  });
  return t;
}

}  // namespace

int run_ops_bench(const OpsBenchOptions& o) {
  const Device device = o.device;
  const ConvCpuImpl impl = o.impl;
  const ImageSize size = o.size;
  const int threads = o.threads, repeats = o.repeats;
  const int warmup = device.is_cuda() ? std::max(o.warmup, 1) : o.warmup;  // a shape's first run searches its algorithms
  omp_set_num_threads(threads);
  std::vector<ConvShape> shapes = read_shapes(resolve_source_file(o.shapes_file));
  for (ConvShape& s : shapes) {
    s.h = scale_extent(s.h, size.height);
    s.w = scale_extent(s.w, size.width);
  }
  if (!o.only.empty()) {
    std::erase_if(shapes, [&](const ConvShape& s) { return std::find(o.only.begin(), o.only.end(), s.name) == o.only.end(); });
    GHM_CHECK(!shapes.empty(), "bench ops: no shape matches --only");
  }

  const std::string impl_name = device.is_cuda() ? "cudnn" : conv2d_cpu_impl_name(impl);
  if (device.is_cuda())
    std::printf("ghm_retinanet conv2d, %s, %s\n", cuda_description(device).c_str(), precision_name(o.precision));
  else
    std::printf("ghm_retinanet conv2d, impl %s, %s, threads %d, %s\n", conv2d_cpu_impl_name(impl),
                precision_name(o.precision), threads, cpu_features().c_str());
  std::printf("warm-up %d, median of %d", warmup, repeats);
  if (size.height != kConvShapesImageSize || size.width != kConvShapesImageSize)
    std::printf(", shapes for %lldx%lld images", static_cast<long long>(size.height), static_cast<long long>(size.width));
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
  json << "{\"device\": \"" << device << "\", \"impl\": \"" << impl_name << "\", \"precision\": \""
       << precision_name(o.precision) << "\", \"threads\": " << threads;
  if (device.is_cuda()) json << ", \"tf32\": " << (cuda::tf32_allowed() ? "true" : "false");
  json << ", \"image_size\": [" << size.height << ", " << size.width << "], \"warmup\": " << warmup
       << ", \"repeats\": " << repeats << ", \"shapes\": [";
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    const ConvShape& s = shapes[k];
    const ShapeTiming t = time_shape(s, o.impl, o.precision, device, warmup, repeats, gen);
    const double flops = t.flops, fwd = t.fwd_ms, bwd = t.bwd_ms;
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
  if (!o.json_out.empty()) {
    io::write_output(o.json_out, json.str());
  }
  return 0;
}

}  // namespace ghm::bench
