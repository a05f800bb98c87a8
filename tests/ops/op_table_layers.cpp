// Op table entries: the layer ops: conv2d and conv2d_relu (core/ops/conv.h), matmul
// (core/ops/matmul.h), max_pool2d and upsample_nearest (core/ops/pool.h), roi_align
// (core/ops/roi_align.h). See op_table.h for what the drivers do with them.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "../core/gradcheck.h"
#include "core/ops/conv.h"
#include "core/ops/matmul.h"
#include "core/ops/pool.h"
#include "core/ops/roi_align.h"
#include "op_table.h"

namespace ghm::testing {
namespace {

// ---- conv2d, conv2d_relu ---------------------------------------------------------------------

struct ConvShape {
  const char* name;
  Shape x, w;  // [N, C, H, W], [O, C/groups, KH, KW]
  Conv2dParams p;
  bool bias;
};

Conv2dParams params(int stride_h, int stride_w, int pad_h, int pad_w, int dilation = 1, int groups = 1) {
  return {stride_h, stride_w, pad_h, pad_w, dilation, dilation, groups};
}

const std::vector<ConvShape>& conv_shapes() {
  static const std::vector<ConvShape> all = {
      {"3x3 s1 p1", {2, 3, 7, 6}, {4, 3, 3, 3}, Conv2dParams::square(1, 1), true},
      {"3x3 s2 p0, odd size", {1, 2, 9, 7}, {3, 2, 3, 3}, Conv2dParams::square(2, 0), true},
      {"dilation 2", {1, 2, 8, 8}, {3, 2, 3, 3}, Conv2dParams::square(1, 2, 2), false},
      {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, Conv2dParams::square(1, 1, 1, 2), true},
      {"depthwise", {1, 3, 5, 6}, {3, 1, 3, 3}, Conv2dParams::square(1, 1, 1, 3), false},
      {"1x1", {3, 4, 3, 5}, {5, 4, 1, 1}, Conv2dParams::square(1, 0), true},
      {"1x1 stride 2", {1, 4, 7, 7}, {2, 4, 1, 1}, Conv2dParams::square(2, 0), false},
      {"3x1, stride 1x2, pad 1x0", {1, 2, 6, 5}, {2, 2, 3, 1}, params(1, 2, 1, 0), true},
      {"1x1, N=3", {3, 5, 7, 9}, {4, 5, 1, 1}, Conv2dParams::square(1, 0), true},
      {"1x1 stride 2 (downsample), odd size", {3, 16, 9, 11}, {32, 16, 1, 1}, Conv2dParams::square(2, 0), false},
      {"3x3 pad 1, N=1, no bias", {1, 8, 13, 11}, {6, 8, 3, 3}, Conv2dParams::square(1, 1), false},
      {"3x3 pad 1, larger", {2, 32, 33, 65}, {48, 32, 3, 3}, Conv2dParams::square(1, 1), true},
      {"7x7 stride 2 pad 3 (stem)", {2, 3, 33, 31}, {8, 3, 7, 7}, Conv2dParams::square(2, 3), false},
      {"3x3 dilation 2 pad 2", {3, 4, 15, 17}, {5, 4, 3, 3}, Conv2dParams::square(1, 2, 2), true},
      {"3x1 stride 2x1 pad 1x0", {2, 3, 12, 9}, {4, 3, 3, 1}, params(2, 1, 1, 0), true},
      {"groups 2, larger", {2, 6, 9, 10}, {4, 3, 3, 3}, Conv2dParams::square(1, 1, 1, 2), true},
      {"groups 32 (ResNeXt), stride 2", {2, 64, 11, 9}, {64, 2, 3, 3}, Conv2dParams::square(2, 1, 1, 32), false},
      {"groups 32 (ResNeXt), stride 1, N=3", {3, 128, 7, 7}, {128, 4, 3, 3}, Conv2dParams::square(1, 1, 1, 32), true},
      {"a single output pixel", {3, 5, 3, 3}, {7, 5, 3, 3}, Conv2dParams::square(1, 0), true},
      {"a single element everywhere", {1, 1, 1, 1}, {1, 1, 1, 1}, Conv2dParams::square(1, 0), true},
      {"empty batch (N=0)", {0, 3, 5, 5}, {4, 3, 3, 3}, Conv2dParams::square(1, 1), true},
      {"no input channels (C=0)", {2, 0, 5, 5}, {4, 0, 3, 3}, Conv2dParams::square(1, 1), true},
      {"no output channels (O=0)", {2, 3, 5, 5}, {0, 3, 3, 3}, Conv2dParams::square(1, 1), true},
  };
  return all;
}

// Inputs x, weight (scaled by 1/sqrt(fan-in), so outputs stay near unit size) and, when the case
// has one, bias.
enum class Activation { None, FusedRelu };

std::vector<OpCase> conv_cases(Activation activation) {
  Generator gen(100);
  std::vector<OpCase> out;
  for (const ConvShape& s : conv_shapes()) {
    const std::int64_t fan_in = std::max<std::int64_t>(s.w[1] * s.w[2] * s.w[3], 1);
    const float w_scale = 1.0f / std::sqrt(static_cast<float>(fan_in));
    std::vector<OpInput> inputs = {grad_input(Tensor::normal(s.x, 0, 1, gen)),
                                   grad_input(Tensor::normal(s.w, 0, w_scale, gen))};
    if (s.bias) inputs.push_back(grad_input(Tensor::normal(Shape{s.w[0]}, 0, 1, gen)));
    const Conv2dParams p = s.p;
    const auto conv = [p](const std::vector<Tensor>& in) {
      return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p);
    };
    OpCase c{std::string(s.name) + ": x " + s.x.to_string() + ", weight " + s.w.to_string(), inputs, conv};
    if (activation == Activation::FusedRelu) {
      c.run = [p](const std::vector<Tensor>& in) {
        return conv2d_relu(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p);
      };
      c.kink = conv;
    }
    out.push_back(std::move(c));
  }
  return out;
}

// ---- matmul ----------------------------------------------------------------------------------

// A single element, odd shapes that fit no tile, a long inner dimension, dot and outer products,
// batched, empty problems (K = 0 gives zeros, M = 0 or batch = 0 an empty result), and large
// products for run-to-run determinism.
std::vector<OpCase> matmul_cases() {
  Generator gen(41);
  std::vector<OpCase> out;
  for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{
           {Shape{1, 1}, Shape{1, 1}},
           {Shape{5, 7}, Shape{7, 3}},
           {Shape{2, 4, 6}, Shape{2, 6, 5}},
           {Shape{33, 65}, Shape{65, 17}},        // M 33, K 65, N 17
           {Shape{33, 17}, Shape{17, 65}},
           {Shape{257, 3}, Shape{3, 300}},
           {Shape{3, 300}, Shape{300, 257}},      // a long inner dimension
           {Shape{1, 300}, Shape{300, 1}},        // a dot product
           {Shape{129, 1}, Shape{1, 255}},        // an outer product
           {Shape{1, 7, 9}, Shape{1, 9, 4}},
           {Shape{5, 33, 65}, Shape{5, 65, 17}},
           {Shape{3, 257, 3}, Shape{3, 3, 300}},
           {Shape{64, 1, 5}, Shape{64, 5, 1}},
           {Shape{4, 0}, Shape{0, 5}},            // K = 0: zeros
           {Shape{3, 4, 0}, Shape{3, 0, 5}},
           {Shape{0, 5}, Shape{5, 4}},            // M = 0: empty, and a K = 0 product for b's gradient
           {Shape{3, 5}, Shape{5, 0}},
           {Shape{2, 0, 5}, Shape{2, 5, 4}},
           {Shape{0, 3, 4}, Shape{0, 4, 5}},      // no batch entries
           {Shape{4, 257, 300}, Shape{4, 300, 129}},
           {Shape{513, 1000}, Shape{1000, 131}}})
    out.push_back({sa.to_string() + " x " + sb.to_string(),
                   {grad_input(Tensor::normal(sa, 0, 1, gen)), grad_input(Tensor::normal(sb, 0, 1, gen))},
                   [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }});
  return out;
}

// ---- max_pool2d, upsample_nearest ------------------------------------------------------------

enum class Specials { No, Yes };  // Yes: some NaN and -inf among the values

// Values on a coarse grid (many ties inside a window).
Tensor pool_input(const Shape& s, Generator& gen, Specials specials) {
  std::vector<float> v(static_cast<std::size_t>(s.numel()));
  for (float& x : v) {
    x = std::floor(gen.normal() * 2.0f);
    if (specials == Specials::Yes) {
      const float u = gen.uniform();
      if (u < 0.02f) x = std::numeric_limits<float>::quiet_NaN();
      else if (u < 0.05f) x = -std::numeric_limits<float>::infinity();
    }
  }
  return Tensor::from_vector(v, s);
}

std::string pool_name(const Pool2dParams& p) {
  return "kernel " + std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + ", stride " +
         std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) + ", pad " + std::to_string(p.pad_h) + "x" +
         std::to_string(p.pad_w);
}

// Distinct values for the finite differences; on the GPU also ties, NaN, -inf, planes of one
// value (the first element wins), the ResNet stem, overlapping windows, odd sizes, planes larger
// than a block, 1x1 inputs and empty batches.
std::vector<OpCase> max_pool_cases() {
  Generator gen(8);
  std::vector<OpCase> out;
  const auto add = [&](const std::string& what, Tensor x, const Pool2dParams& p, FiniteDifferences fd) {
    out.push_back({what + " " + x.shape().to_string() + ", " + pool_name(p), {grad_input(std::move(x))},
                   [p](const std::vector<Tensor>& in) { return max_pool2d(in[0], p); }, {}, fd});
  };
  for (const Pool2dParams& p : {Pool2dParams::square(3, 2, 1), Pool2dParams::square(2, 2, 0)})
    add("distinct values", spread_values(Shape{2, 2, 9, 11}, gen), p, FiniteDifferences::Yes);
  const std::vector<Pool2dParams> params = {
      Pool2dParams::square(3, 2, 1), Pool2dParams::square(2, 2, 0), Pool2dParams::square(3, 1, 1),
      Pool2dParams::square(5, 3, 2), Pool2dParams{3, 2, 2, 1, 1, 0}, Pool2dParams::square(1, 1, 0),
  };
  const std::vector<Shape> shapes = {Shape{2, 3, 17, 23}, Shape{1, 2, 8, 8},    Shape{2, 3, 33, 35}, Shape{1, 1, 1, 1},
                                     Shape{3, 1, 2, 5},   Shape{1, 1, 64, 129}, Shape{0, 3, 9, 9}};
  for (const Pool2dParams& p : params)
    for (const Shape& s : shapes) {
      if (s[2] + 2 * p.pad_h < p.kernel_h || s[3] + 2 * p.pad_w < p.kernel_w) continue;  // smaller than the kernel
      add("ties", pool_input(s, gen, Specials::No), p, FiniteDifferences::No);
      add("ties, NaN and -inf", pool_input(s, gen, Specials::Yes), p, FiniteDifferences::No);
    }
  for (const float value : {1.5f, -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()})
    add("all " + std::to_string(value), Tensor::full(Shape{1, 2, 7, 6}, value), Pool2dParams::square(3, 2, 1),
        FiniteDifferences::No);
  return out;
}

std::vector<OpCase> upsample_cases() {
  Generator gen(17);
  std::vector<OpCase> out;
  for (const auto& [s, out_h, out_w] : std::vector<std::tuple<Shape, std::int64_t, std::int64_t>>{
           {Shape{1, 3, 5, 7}, 10, 14},   // x2
           {Shape{1, 3, 5, 7}, 12, 15},   // non-integer ratios
           {Shape{1, 3, 5, 7}, 3, 4},     // down: some inputs have no output
           {Shape{2, 3, 4, 5}, 8, 10},    // x2, the FPN top-down path
           {Shape{1, 2, 5, 5}, 7, 7},     // 5 -> 7
           {Shape{1, 2, 7, 7}, 5, 5},     // 7 -> 5
           {Shape{2, 1, 5, 7}, 7, 5},     // up in one axis, down in the other
           {Shape{1, 3, 6, 9}, 1, 1},     // to 1x1
           {Shape{1, 1, 1, 1}, 3, 4},     // from 1x1
           {Shape{2, 2, 3, 3}, 3, 3},     // same size
           {Shape{2, 3, 25, 38}, 50, 76}, // x2 on planes larger than a block
           {Shape{1, 2, 13, 11}, 40, 27}, // a large non-integer ratio
           {Shape{0, 3, 4, 4}, 8, 8}})    // an empty batch
    out.push_back({s.to_string() + " to " + std::to_string(out_h) + "x" + std::to_string(out_w),
                   {grad_input(Tensor::normal(s, 0, 1, gen))},
                   [h = out_h, w = out_w](const std::vector<Tensor>& in) { return upsample_nearest(in[0], h, w); }});
  return out;
}

// ---- roi_align ---------------------------------------------------------------------------------

// Boxes [K, 5] from rows (batch index, x1, y1, x2, y2).
Tensor boxes(const std::vector<std::array<float, 5>>& rows) {
  std::vector<float> v;
  for (const auto& r : rows) v.insert(v.end(), r.begin(), r.end());
  return Tensor::from_vector(v, Shape{static_cast<std::int64_t>(rows.size()), 5});
}

// K random boxes over an image of w x h pixels of an n-image batch: some inside, some crossing
// the border, some smaller than a pixel, some wholly outside.
Tensor random_boxes(std::int64_t k, std::int64_t n, float w, float h, Generator& gen) {
  std::vector<std::array<float, 5>> rows;
  for (std::int64_t i = 0; i < k; ++i) {
    const float x1 = (gen.uniform() * 1.4f - 0.2f) * w, y1 = (gen.uniform() * 1.4f - 0.2f) * h;
    const float bw = i % 7 == 3 ? 0.3f : gen.uniform() * 0.6f * w, bh = i % 7 == 3 ? 0.4f : gen.uniform() * 0.6f * h;
    rows.push_back({static_cast<float>(static_cast<std::int64_t>(gen.uniform() * n) % n), x1, y1, x1 + bw, y1 + bh});
  }
  return boxes(rows);
}

std::string roi_name(const RoiAlignParams& p) {
  return std::to_string(p.out_h) + "x" + std::to_string(p.out_w) + ", scale " + std::to_string(p.spatial_scale) +
         ", sampling " + std::to_string(p.sampling_ratio) + (p.aligned ? ", aligned" : "");
}

// RoIAlign is linear in x, so central differences are exact up to rounding on any values: small
// maps with hand-placed boxes (inside, across the border, below a pixel, outside, two per image)
// for them; on the GPU also FPN-like sizes, many boxes, adaptive grids and no boxes.
std::vector<OpCase> roi_align_cases() {
  Generator gen(23);
  std::vector<OpCase> out;
  const auto add = [&](const std::string& what, Tensor x, Tensor rois, const RoiAlignParams& p) {
    out.push_back({what + " " + x.shape().to_string() + ", " + std::to_string(rois.size(0)) + " boxes, " + roi_name(p),
                   {grad_input(std::move(x)), const_input(std::move(rois))},
                   [p](const std::vector<Tensor>& in) { return roi_align(in[0], in[1], p); }});
  };
  const Tensor hand = boxes({{0, 1.2f, 0.7f, 9.5f, 7.1f},
                             {1, -3.f, -2.f, 4.4f, 3.3f},
                             {0, 5.1f, 4.2f, 5.4f, 4.3f},
                             {1, 20.f, 20.f, 30.f, 25.f},
                             {1, 0.f, 0.f, 14.f, 12.f}});
  for (const RoiAlignParams& p : {RoiAlignParams{2, 2, 0.5f, 2, false}, RoiAlignParams{3, 2, 0.5f, -1, false},
                                  RoiAlignParams{2, 3, 0.5f, -1, true}, RoiAlignParams{1, 1, 1.0f, 3, true}})
    add("hand-placed boxes", Tensor::normal(Shape{2, 3, 6, 7}, 0, 1, gen), hand, p);
  for (const RoiAlignParams& p : {RoiAlignParams{7, 7, 0.25f, 2, false}, RoiAlignParams{7, 7, 0.125f, -1, false},
                                  RoiAlignParams{14, 14, 0.25f, 0, true}, RoiAlignParams{5, 3, 1.0f, 1, false}})
    add("random boxes", Tensor::normal(Shape{2, 16, 50, 38}, 0, 1, gen), random_boxes(60, 2, 152.f, 200.f, gen), p);
  add("no boxes", Tensor::normal(Shape{1, 4, 9, 9}, 0, 1, gen), Tensor::empty(Shape{0, 5}), RoiAlignParams{});
  return out;
}

constexpr Tolerance kSelects{0, "the forward only selects and moves values: bit for bit"};
constexpr Tolerance kSameOrderSums{0, "each input's gradient terms are added from 0 in the CPU's order "
                                      "(row-major over the outputs) on both backends: bit for bit"};
constexpr Tolerance kSameGeometrySums{0, "the same sample points and weights (core/ops/roi_align_math.h, no fused "
                                        "multiply-add on either side), summed in the same order: bit for bit"};
constexpr Tolerance kFloat32Products{1e-5, "fp32 sums of up to ~1e3 products of unit-size terms in different "
                                           "orders (cuDNN may also use FFT or Winograd transforms): each side "
                                           "within a few 1e-7 relative to the largest output"};
constexpr Tolerance kTf32Products{1e-2, "TF32 rounds both factors of every product to a 10-bit mantissa "
                                        "(relative 2^-11 each); over random-sign sums the normalised error "
                                        "stays well below 1e-2"};

}  // namespace

std::vector<OpEntry> layer_entries() {
  return {
      {"conv2d", kFloat32Products, kFloat32Products, kTf32Products, [] { return conv_cases(Activation::None); }},
      {"conv2d_relu", kFloat32Products, kFloat32Products, kTf32Products,
       [] { return conv_cases(Activation::FusedRelu); }},
      {"matmul", kFloat32Products, kFloat32Products, kTf32Products, matmul_cases},
      {"max_pool2d", kSelects, kSameOrderSums, std::nullopt, max_pool_cases},
      {"upsample_nearest", kSelects, kSameOrderSums, std::nullopt, upsample_cases},
      {"roi_align", kSameGeometrySums, kSameOrderSums, std::nullopt, roi_align_cases},
  };
}

}  // namespace ghm::testing
