// Detection transforms (semantics and layouts in transforms.h).
//
// resize_bilinear runs in two passes with a two-row cache, as OpenCV does: every source row that
// some output row needs is interpolated horizontally once into an int32 row of 2048-scaled values
// ([out_w * 3], exact); each output row then blends its two cached rows with its vertical weights
// using the rounding of OpenCV's SIMD vertical pass, the code cv2.resize runs. Source
// rows are visited in increasing order, so when the next output row needs the pair (s, s + 1) the
// row s is usually already cached as the previous pair's second row and only s + 1 is computed:
// an upscale from 480 rows computes each source row once. Tap offsets and weights for x and y are
// precomputed. The horizontal pass gathers (taps differ per column); the vertical pass is plain
// shifts and multiply-adds over contiguous int32 rows, which the compiler vectorises.
#include "io/transforms.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace ghm::io {

namespace {

constexpr int kChannels = 3;
constexpr int kCoefBits = 11;  // OpenCV's INTER_RESIZE_COEF_BITS
constexpr int kCoefScale = 1 << kCoefBits;

// For each output coordinate d < out_size: the two source coordinates it blends (clamped into
// the image) and their 11-bit weights, summing to kCoefScale.
struct LinearTaps {
  std::vector<int> first, second;                // [out_size] source coordinates
  std::vector<int> first_weight, second_weight;  // [out_size]
};

// Past the image's edges both taps read the edge pixel. OpenCV then zeroes the fraction for x but
// keeps it for y (two rows, the same one, with the original weights): equal in exact arithmetic,
// not after the truncating vertical pass, so we follow it.
enum class EdgeFraction { Zeroed, Kept };

LinearTaps linear_taps(int in_size, int out_size, EdgeFraction edge) {
  // OpenCV stores the inverse of out / in, not in / out; the two can differ in the last bit.
  const double scale = 1.0 / (static_cast<double>(out_size) / in_size);
  LinearTaps taps;
  taps.first.resize(out_size);
  taps.second.resize(out_size);
  taps.first_weight.resize(out_size);
  taps.second_weight.resize(out_size);
  for (int d = 0; d < out_size; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    const int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    if (edge == EdgeFraction::Zeroed && (s < 0 || s >= in_size - 1)) f = 0;
    taps.first[d] = std::clamp(s, 0, in_size - 1);
    taps.second[d] = std::clamp(s + 1, 0, in_size - 1);
    // Round half to even, as OpenCV's saturate_cast<short>; 1 - f and f round to a pair summing
    // to kCoefScale in every case (a tie k + 0.5 pairs with 2047 - k + 0.5).
    taps.first_weight[d] = static_cast<int>(std::lrint((1.0f - f) * kCoefScale));
    taps.second_weight[d] = static_cast<int>(std::lrint(f * kCoefScale));
  }
  return taps;
}

// One source row [in_w, 3] u8 -> [out_w, 3] int32 scaled by kCoefScale.
void horizontal_pass(const std::uint8_t* src, const LinearTaps& x_taps, int out_w, int* dst) {
  for (int x = 0; x < out_w; ++x) {
    const std::uint8_t* a = src + x_taps.first[x] * kChannels;
    const std::uint8_t* b = src + x_taps.second[x] * kChannels;
    const int wa = x_taps.first_weight[x];
    const int wb = x_taps.second_weight[x];
    int* out = dst + x * kChannels;
    out[0] = a[0] * wa + b[0] * wb;
    out[1] = a[1] * wa + b[1] * wb;
    out[2] = a[2] * wa + b[2] * wb;
  }
}

// Two horizontally interpolated rows [n] -> one output row [n] u8, with OpenCV's SIMD rounding:
// each row drops 4 bits (to fit int16), each product keeps its high 16 bits, and the sum, at most
// 4 * 255 + 1, is rounded by 2 more bits. Weights summing to 2048 keep a constant row constant.
void vertical_pass(const int* row0, const int* row1, int w0, int w1, std::int64_t n, std::uint8_t* dst) {
  for (std::int64_t i = 0; i < n; ++i) {
    const int sum = (((row0[i] >> 4) * w0) >> 16) + (((row1[i] >> 4) * w1) >> 16);
    dst[i] = static_cast<std::uint8_t>((sum + 2) >> 2);
  }
}

void check_image_size(const Image& image, const char* op) {
  GHM_CHECK(!image.empty(), op, ": empty image (", image.height, " x ", image.width, ")");
  GHM_CHECK(image.data.size() == static_cast<std::size_t>(image.height) * image.width * kChannels, op,
            ": image of ", image.height, " x ", image.width, " holds ", image.data.size(),
            " bytes, expected height * width * 3");
}

}  // namespace

RescaledSize rescale_size(int height, int width, int short_side, int max_side) {
  GHM_CHECK(height > 0 && width > 0, "rescale_size: image size ", height, " x ", width, " is not positive");
  GHM_CHECK(short_side > 0 && short_side <= max_side, "rescale_size: need 0 < short_side <= max_side, got ",
            short_side, " and ", max_side);
  const double scale = std::min(static_cast<double>(max_side) / std::max(height, width),
                                static_cast<double>(short_side) / std::min(height, width));
  RescaledSize size;
  size.width = static_cast<int>(width * scale + 0.5);
  size.height = static_cast<int>(height * scale + 0.5);
  GHM_CHECK(size.height > 0 && size.width > 0, "rescale_size: ", height, " x ", width, " at (", max_side, ", ",
            short_side, ") becomes ", size.height, " x ", size.width, ", an empty image");
  size.scale_w = static_cast<float>(static_cast<double>(size.width) / width);
  size.scale_h = static_cast<float>(static_cast<double>(size.height) / height);
  return size;
}

int choose_short_side(std::span<const int> short_sides, Generator& rng) {
  GHM_CHECK(!short_sides.empty(), "choose_short_side: the list of short sides is empty");
  // The modulo bias is below n / 2^64.
  return short_sides[rng.next_u64() % short_sides.size()];
}

Image resize_bilinear(const Image& image, int out_height, int out_width) {
  check_image_size(image, "resize_bilinear");
  GHM_CHECK(out_height > 0 && out_width > 0, "resize_bilinear: output size ", out_height, " x ", out_width,
            " is not positive");
  if (out_height == image.height && out_width == image.width) return image;

  const LinearTaps x_taps = linear_taps(image.width, out_width, EdgeFraction::Zeroed);
  const LinearTaps y_taps = linear_taps(image.height, out_height, EdgeFraction::Kept);
  const std::int64_t row_elems = static_cast<std::int64_t>(out_width) * kChannels;
  const std::int64_t in_row_bytes = static_cast<std::int64_t>(image.width) * kChannels;
  std::vector<int> cache[2] = {std::vector<int>(row_elems), std::vector<int>(row_elems)};  // [out_w * 3] each
  int cached_row[2] = {-1, -1};

  Image out(out_height, out_width);
  for (int y = 0; y < out_height; ++y) {
    const int s0 = y_taps.first[y];
    const int s1 = y_taps.second[y];
    if (cached_row[0] != s0 && cached_row[1] == s0) {
      std::swap(cache[0], cache[1]);
      std::swap(cached_row[0], cached_row[1]);
    }
    if (cached_row[0] != s0) {
      horizontal_pass(image.data.data() + s0 * in_row_bytes, x_taps, out_width, cache[0].data());
      cached_row[0] = s0;
    }
    const int* row1 = cache[0].data();
    if (s1 != s0) {
      if (cached_row[1] != s1) {
        horizontal_pass(image.data.data() + s1 * in_row_bytes, x_taps, out_width, cache[1].data());
        cached_row[1] = s1;
      }
      row1 = cache[1].data();
    }
    vertical_pass(cache[0].data(), row1, y_taps.first_weight[y], y_taps.second_weight[y], row_elems,
                  out.data.data() + y * row_elems);
  }
  return out;
}

void flip_horizontal(Image& image) {
  check_image_size(image, "flip_horizontal");
  for (int y = 0; y < image.height; ++y) {
    for (int left = 0, right = image.width - 1; left < right; ++left, --right) {
      std::uint8_t* a = image.pixel(y, left);
      std::uint8_t* b = image.pixel(y, right);
      std::swap(a[0], b[0]);
      std::swap(a[1], b[1]);
      std::swap(a[2], b[2]);
    }
  }
}

void rescale_boxes(std::span<Box> boxes, const RescaledSize& size) {
  const float w = static_cast<float>(size.width);
  const float h = static_cast<float>(size.height);
  for (Box& b : boxes) {
    b.x1 = std::clamp(b.x1 * size.scale_w, 0.0f, w);
    b.y1 = std::clamp(b.y1 * size.scale_h, 0.0f, h);
    b.x2 = std::clamp(b.x2 * size.scale_w, 0.0f, w);
    b.y2 = std::clamp(b.y2 * size.scale_h, 0.0f, h);
  }
}

void flip_boxes_horizontal(std::span<Box> boxes, int image_width) {
  const float w = static_cast<float>(image_width);
  for (Box& b : boxes) {
    const float x1 = w - b.x2;
    const float x2 = w - b.x1;
    b.x1 = x1;
    b.x2 = x2;
  }
}

void normalize_into(const Image& image, const std::array<float, 3>& mean, const std::array<float, 3>& stddev,
                    ChannelOrder order, float* out, std::int64_t row_stride, std::int64_t plane_stride) {
  check_image_size(image, "normalize_into");
  GHM_CHECK(row_stride >= image.width, "normalize_into: row stride ", row_stride, " is less than the width ",
            image.width);
  GHM_CHECK(plane_stride >= row_stride * image.height, "normalize_into: plane stride ", plane_stride,
            " is less than row stride * height = ", row_stride * image.height);
  for (int c = 0; c < kChannels; ++c)
    GHM_CHECK(stddev[c] > 0 && std::isfinite(stddev[c]) && std::isfinite(mean[c]), "normalize_into: channel ", c,
              " has mean ", mean[c], " and std ", stddev[c], "; need a finite mean and a positive finite std");

  for (int plane = 0; plane < kChannels; ++plane) {
    const int source_channel = order == ChannelOrder::RGB ? plane : kChannels - 1 - plane;
    const float m = mean[plane];
    const float inv_std = static_cast<float>(1.0 / static_cast<double>(stddev[plane]));
    for (int y = 0; y < image.height; ++y) {
      const std::uint8_t* src = image.pixel(y, 0) + source_channel;
      float* dst = out + plane * plane_stride + y * row_stride;
      for (int x = 0; x < image.width; ++x) dst[x] = (static_cast<float>(src[x * kChannels]) - m) * inv_std;
    }
  }
}

Tensor normalize(const Image& image, const std::array<float, 3>& mean, const std::array<float, 3>& stddev,
                 ChannelOrder order) {
  check_image_size(image, "normalize");
  Tensor out = Tensor::empty(Shape{kChannels, image.height, image.width});  // [3, H, W]
  const std::int64_t plane = static_cast<std::int64_t>(image.height) * image.width;
  normalize_into(image, mean, stddev, order, out.data<float>(), image.width, plane);
  return out;
}

std::int64_t padded_size(std::int64_t size, std::int64_t divisor) {
  GHM_CHECK(size >= 0, "padded_size: size ", size, " is negative");
  GHM_CHECK(divisor >= 1, "padded_size: divisor ", divisor, " is less than 1");
  return (size + divisor - 1) / divisor * divisor;
}

Tensor boxes_to_tensor(std::span<const Box> boxes) {
  const auto count = static_cast<std::int64_t>(boxes.size());
  Tensor out = Tensor::empty(Shape{count, 4});  // [G, 4]
  float* p = out.data<float>();
  for (const Box& b : boxes) {
    *p++ = b.x1;
    *p++ = b.y1;
    *p++ = b.x2;
    *p++ = b.y2;
  }
  return out;
}

std::vector<Box> boxes_from_tensor(const Tensor& boxes) {
  check_defined(boxes, "boxes_from_tensor", "boxes");
  check_dtype(boxes, DType::F32, "boxes_from_tensor", "boxes");
  GHM_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "boxes_from_tensor: expected boxes [G, 4], got ",
            boxes.shape());
  GHM_CHECK(boxes.device().is_cpu(), "boxes_from_tensor: boxes are on ", boxes.device(),
            "; move them to the CPU first");
  std::vector<Box> out(static_cast<std::size_t>(boxes.size(0)));
  const float* p = boxes.data<float>();
  for (Box& b : out) {
    b = {p[0], p[1], p[2], p[3]};
    p += 4;
  }
  return out;
}

}  // namespace ghm::io
