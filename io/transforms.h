// Detection transforms with mmdetection v2 semantics (the COCO RetinaNet pipeline): keep-ratio
// resize, horizontal flip, normalisation into a planar float image, padding to a size divisor.
// Training applies them in mmdetection's order: resize (and rescale + clip the boxes), flip
// (image and boxes), normalise, pad (at batch collation, io/data_loader.h).
//
// Sizes. `rescale_size` is mmcv's `rescale_size` for a (long, short) scale pair such as
// (1333, 800):
//   scale  = min(max_side / max(h, w), short_side / min(h, w))         (double)
//   new_w  = int(w * scale + 0.5),  new_h = int(h * scale + 0.5)        (truncation)
//   scale_w = new_w / w,  scale_h = new_h / h                          (stored as float32)
// The per-axis factors are what mmdetection's Resize stores as `scale_factor`; boxes are
// multiplied by them in float32 and clipped to the resized image, x to [0, W] and y to [0, H]
// (bbox_clip_border=True). E.g. 480x640 (h x w) at (1333, 800) -> 800x1067.
//
// Resampling. `resize_bilinear` is OpenCV's INTER_LINEAR for 8-bit images, the interpolation
// mmcv's imresize uses: half-pixel centres, src = (dst + 0.5) * (in / out) - 0.5 (computed in
// float as OpenCV does), taps clamped at the borders, no antialiasing when shrinking. Weights are
// 11-bit fixed point (1 - f and f, rounded to nearest, so they always sum to 2048). The
// horizontal pass keeps exact 2048-scaled sums a = p0*w0 + p1*w1; the vertical pass computes
// (((a >> 4) * b0 >> 16) + ((b >> 4) * b1 >> 16) + 2) >> 2, the rounding of OpenCV's SIMD code
// (its scalar fallback, (a*b0 + b*b1 + 2^21) >> 22, can differ by 1). The output is bit-identical
// to cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_LINEAR) from OpenCV 4.10 and 5.0 on
// 400 random size pairs (up, down, mixed, 1-pixel sides); it is within 1 of exact bilinear
// interpolation. Same-size resizes are copies, as in OpenCV.
//
// Flip. mmdetection's `bbox_flip` (horizontal) on an image of width W: x1' = W - x2,
// x2' = W - x1 (pixel-edge coordinates, so a box that covers pixel columns [a, b) covers
// [W - b, W - a) after the flip, exactly the columns the flipped image puts there).
//
// Normalisation. out[c, y, x] = (float(pixel) - mean[c]) * (1 / stddev[c]), in float32 with the
// reciprocal taken in double and rounded once (mmcv's imnormalize multiplies by 1 / std the same
// way). Our images are RGB. mmdetection decodes BGR and its `to_rgb` flag asks for RGB planes:
// the COCO RetinaNet config, to_rgb=True with mean (123.675, 116.28, 103.53) and std (58.395,
// 57.12, 57.375) (ImageNet statistics in R, G, B order), is `ChannelOrder::RGB` with those
// values; to_rgb=False configs (Caffe-style backbones, mean listed B, G, R) are
// `ChannelOrder::BGR`. `mean` and `stddev` are always given in the output plane order.
//
// Layouts: Image data [H, W, 3] u8 RGB (io/image.h); normalised output [3, H, W] f32 with
// caller-chosen row and plane strides, so an image can be written straight into a zero-padded
// batch [N, 3, Hp, Wp] (row stride Wp, plane stride Hp * Wp).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "io/image.h"

namespace ghm::io {

// A box in pixel-edge coordinates: x1 <= x2, y1 <= y2, (0, 0) the top-left corner of the image.
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// mmdetection's COCO RetinaNet normalisation (ImageNet statistics, 0..255 scale, R, G, B).
inline constexpr std::array<float, 3> kImageNetMeanRGB = {123.675f, 116.28f, 103.53f};
inline constexpr std::array<float, 3> kImageNetStdRGB = {58.395f, 57.12f, 57.375f};

enum class ChannelOrder { RGB, BGR };  // the order of the output planes (and of mean and std)

struct RescaledSize {
  int height = 0, width = 0;         // the resized image
  float scale_h = 1, scale_w = 1;    // new / old per axis, as mmdetection's scale_factor
};

// Keep-ratio target size for an image of `height` x `width` so that the short side is at most
// `short_side` and the long side at most `max_side` (one of them reached). Throws when a size is
// not positive, short_side > max_side, or the result would have an empty side.
RescaledSize rescale_size(int height, int width, int short_side, int max_side);

// Multi-scale training: one of `short_sides`, uniformly (mmdetection's Resize with
// multiscale_mode='value'); consumes one number of `rng`. Throws on an empty list.
int choose_short_side(std::span<const int> short_sides, Generator& rng);

// OpenCV INTER_LINEAR resize (see the top of this file). Throws on an empty input or a
// non-positive output size.
Image resize_bilinear(const Image& image, int out_height, int out_width);

// In place, mirrors the columns of `image`.
void flip_horizontal(Image& image);

// In place: boxes *= (scale_w, scale_h, scale_w, scale_h), then clipped to the resized image.
void rescale_boxes(std::span<Box> boxes, const RescaledSize& size);

// In place: mmdetection's horizontal bbox_flip for an image `image_width` pixels wide.
void flip_boxes_horizontal(std::span<Box> boxes, int image_width);

// Writes the normalised planes of `image` to out[c * plane_stride + y * row_stride + x]
// (c < 3, y < H, x < W); nothing else is touched. Throws when a stride is too small for the
// image or a std is not positive.
void normalize_into(const Image& image, const std::array<float, 3>& mean, const std::array<float, 3>& stddev,
                    ChannelOrder order, float* out, std::int64_t row_stride, std::int64_t plane_stride);

// The same into a new tensor [3, H, W] f32.
Tensor normalize(const Image& image, const std::array<float, 3>& mean, const std::array<float, 3>& stddev,
                 ChannelOrder order);

// `size` rounded up to a multiple of `divisor` (mmdetection's Pad with size_divisor): e.g.
// 1067 -> 1152 for 128. Throws when size < 0 or divisor < 1.
std::int64_t padded_size(std::int64_t size, std::int64_t divisor);

// Boxes as a tensor [G, 4] f32 (x1, y1, x2, y2), and back (the tensor must be [G, 4] f32).
Tensor boxes_to_tensor(std::span<const Box> boxes);
std::vector<Box> boxes_from_tensor(const Tensor& boxes);

}  // namespace ghm::io
