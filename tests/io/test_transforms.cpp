// Tests for io/transforms: rescale_size against values worked out with mmcv's formula, the
// bilinear resize (constant images stay constant, same-size is a copy, an exact 2x shrink is the
// rounded 2x2 mean, small cases against OpenCV's recorded output, and random images against a
// plain double-precision reference within 1), flips and box transforms (exact; a filled rectangle and
// its box stay together through resize and flip), normalisation values and strides, padding.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "io/transforms.h"

using ghm::Generator;
using ghm::Tensor;
using ghm::io::Box;
using ghm::io::ChannelOrder;
using ghm::io::Image;

namespace {

Image random_image(int h, int w, Generator& rng) {
  Image image(h, w);
  for (std::uint8_t& v : image.data) v = static_cast<std::uint8_t>(rng.next_u64() & 0xFF);
  return image;
}

// OpenCV's INTER_LINEAR geometry in double precision, rounded at the end: the reference that the
// fixed-point resize must match within 1.
Image reference_resize(const Image& in, int out_h, int out_w) {
  auto taps = [](int out_coord, int in_size, int out_size, int& s0, int& s1, double& f) {
    const double x = (out_coord + 0.5) * in_size / out_size - 0.5;
    s0 = static_cast<int>(std::floor(x));
    f = x - s0;
    if (s0 < 0) s0 = 0, f = 0;
    if (s0 >= in_size - 1) s0 = in_size - 1, f = 0;
    s1 = std::min(s0 + 1, in_size - 1);
  };
  Image out(out_h, out_w);
  for (int y = 0; y < out_h; ++y) {
    int y0, y1;
    double fy;
    taps(y, in.height, out_h, y0, y1, fy);
    for (int x = 0; x < out_w; ++x) {
      int x0, x1;
      double fx;
      taps(x, in.width, out_w, x0, x1, fx);
      for (int c = 0; c < 3; ++c) {
        const double top = in.pixel(y0, x0)[c] * (1 - fx) + in.pixel(y0, x1)[c] * fx;
        const double bottom = in.pixel(y1, x0)[c] * (1 - fx) + in.pixel(y1, x1)[c] * fx;
        out.pixel(y, x)[c] = static_cast<std::uint8_t>(std::lround(top * (1 - fy) + bottom * fy));
      }
    }
  }
  return out;
}

int max_abs_difference(const Image& a, const Image& b) {
  REQUIRE(a.height == b.height);
  REQUIRE(a.width == b.width);
  int worst = 0;
  for (std::size_t i = 0; i < a.data.size(); ++i) worst = std::max(worst, std::abs(int{a.data[i]} - int{b.data[i]}));
  return worst;
}

// Fills pixel rows [y1, y2) and columns [x1, x2) of a black image with one colour.
Image image_with_rectangle(int h, int w, const Box& box, std::array<std::uint8_t, 3> colour) {
  Image image(h, w);
  for (int y = static_cast<int>(box.y1); y < static_cast<int>(box.y2); ++y)
    for (int x = static_cast<int>(box.x1); x < static_cast<int>(box.x2); ++x)
      std::copy(colour.begin(), colour.end(), image.pixel(y, x));
  return image;
}

bool pixel_is(const Image& image, int y, int x, std::array<std::uint8_t, 3> colour) {
  const std::uint8_t* p = image.pixel(y, x);
  return p[0] == colour[0] && p[1] == colour[1] && p[2] == colour[2];
}

}  // namespace

TEST_CASE("rescale_size: mmcv keep-ratio sizes and per-axis factors") {
  struct Case {
    int h, w, short_side, max_side, new_h, new_w;
  };
  // new sizes from mmcv's rescale_size: int(side * min(long / max(h, w), short / min(h, w)) + 0.5)
  const Case cases[] = {
      {480, 640, 800, 1333, 800, 1067},   // short side reached
      {427, 640, 800, 1333, 800, 1199},
      {333, 500, 800, 1333, 800, 1201},
      {480, 640, 640, 1333, 640, 853},    // a multi-scale training size
      {640, 480, 672, 1333, 896, 672},    // portrait
      {1000, 300, 800, 1333, 1333, 400},  // tall: the long side reaches max_side first
      {100, 1000, 800, 1333, 133, 1333},  // wide: same
      {800, 1067, 800, 1333, 800, 1067},  // already at size
  };
  for (const Case& c : cases) {
    CAPTURE(c.h);
    CAPTURE(c.w);
    const ghm::io::RescaledSize s = ghm::io::rescale_size(c.h, c.w, c.short_side, c.max_side);
    CHECK(s.height == c.new_h);
    CHECK(s.width == c.new_w);
    // mmdetection's scale_factor: new / old in double, stored as float32.
    CHECK(s.scale_w == static_cast<float>(static_cast<double>(c.new_w) / c.w));
    CHECK(s.scale_h == static_cast<float>(static_cast<double>(c.new_h) / c.h));
  }
  CHECK(ghm::io::rescale_size(480, 640, 800, 1333).scale_w == 1.6671875f);  // 1067 / 640, exact in float

  CHECK_THROWS_WITH(ghm::io::rescale_size(0, 640, 800, 1333), doctest::Contains("0 x 640 is not positive"));
  CHECK_THROWS_WITH(ghm::io::rescale_size(480, 640, 1333, 800), doctest::Contains("short_side <= max_side"));
  CHECK_THROWS_WITH(ghm::io::rescale_size(1, 100000, 800, 1333), doctest::Contains("an empty image"));
}

TEST_CASE("choose_short_side: every listed size, reproducibly") {
  const std::vector<int> sides = {640, 672, 704, 736, 768, 800};
  Generator a(7), b(7);
  std::vector<int> seen_count(sides.size(), 0);
  for (int i = 0; i < 600; ++i) {
    const int s = ghm::io::choose_short_side(sides, a);
    CHECK(s == ghm::io::choose_short_side(sides, b));
    const auto it = std::find(sides.begin(), sides.end(), s);
    REQUIRE(it != sides.end());
    ++seen_count[static_cast<std::size_t>(it - sides.begin())];
  }
  // 600 draws of 6 values, 100 expected each: below 50 would be a 5-sigma event.
  for (int count : seen_count) CHECK(count > 50);
  CHECK_THROWS_WITH(ghm::io::choose_short_side({}, a), doctest::Contains("empty"));
}

TEST_CASE("resize_bilinear: constant images stay constant, same size is an exact copy") {
  for (const std::array<int, 4> sizes : {std::array{7, 5, 19, 23}, std::array{480, 640, 800, 1067},
                                         std::array{31, 17, 4, 3}, std::array{1, 1, 9, 6}, std::array{12, 12, 12, 5}}) {
    Image in(sizes[0], sizes[1]);
    for (int i = 0; i < in.height * in.width; ++i) {
      in.data[static_cast<std::size_t>(i) * 3 + 0] = 0;
      in.data[static_cast<std::size_t>(i) * 3 + 1] = 137;
      in.data[static_cast<std::size_t>(i) * 3 + 2] = 255;
    }
    const Image out = ghm::io::resize_bilinear(in, sizes[2], sizes[3]);
    REQUIRE(out.height == sizes[2]);
    REQUIRE(out.width == sizes[3]);
    int changed = 0;
    for (int y = 0; y < out.height; ++y)
      for (int x = 0; x < out.width; ++x) changed += !pixel_is(out, y, x, {0, 137, 255});
    CHECK(changed == 0);
  }
  Generator rng(1);
  const Image in = random_image(13, 29, rng);
  CHECK(ghm::io::resize_bilinear(in, 13, 29).data == in.data);
}

TEST_CASE("resize_bilinear: OpenCV's outputs on small inputs") {
  // cv2.resize(np.array([[0, 255]], np.uint8), (4, 1)) == [[0, 64, 191, 255]]
  Image row(1, 2);
  std::fill(row.pixel(0, 1), row.pixel(0, 1) + 3, 255);
  const Image wide = ghm::io::resize_bilinear(row, 1, 4);
  for (int x = 0; x < 4; ++x) CHECK(int{wide.pixel(0, x)[0]} == std::array{0, 64, 191, 255}[x]);

  // cv2.resize(np.array([[0, 255], [255, 0]], np.uint8), (4, 4)), one channel shown
  Image checker(2, 2);
  std::fill(checker.pixel(0, 1), checker.pixel(0, 1) + 3, 255);
  std::fill(checker.pixel(1, 0), checker.pixel(1, 0) + 3, 255);
  const int expected[4][4] = {{0, 64, 191, 255}, {64, 96, 159, 191}, {191, 159, 96, 64}, {255, 191, 64, 0}};
  const Image big = ghm::io::resize_bilinear(checker, 4, 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) CHECK(int{big.pixel(y, x)[c]} == expected[y][x]);
}

TEST_CASE("resize_bilinear: bit-identical to cv2.resize on a patterned image, up and down") {
  // pixel (y, x, c) = (73x + 151y + 29c + 7xy) mod 256; expected rows of [out_w * 3] values from
  // cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_LINEAR), OpenCV 4.10 and 5.0.
  auto patterned = [](int h, int w) {
    Image image(h, w);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c)
          image.pixel(y, x)[c] = static_cast<std::uint8_t>((73 * x + 151 * y + 29 * c + 7 * x * y) % 256);
    return image;
  };
  const std::vector<std::vector<int>> up = {  // 3 x 4 -> 5 x 7
      {0, 29, 58, 26, 55, 84, 68, 97, 126, 109, 138, 167, 151, 180, 191, 193, 222, 86, 219, 248, 21},
      {60, 89, 118, 87, 80, 109, 131, 65, 93, 123, 101, 130, 115, 144, 162, 158, 187, 118, 185, 214, 90},
      {151, 180, 209, 180, 117, 146, 225, 17, 46, 143, 44, 73, 61, 90, 119, 106, 135, 164, 135, 164, 193},
      {88, 117, 146, 118, 110, 139, 166, 100, 129, 163, 141, 93, 149, 178, 64, 109, 138, 113, 84, 114, 142},
      {46, 75, 104, 77, 106, 135, 127, 156, 185, 176, 205, 106, 208, 237, 28, 111, 140, 78, 51, 80, 109}};
  const std::vector<std::vector<int>> down = {  // 9 x 7 -> 4 x 3
      {146, 68, 97, 166, 196, 128, 91, 120, 149},
      {91, 120, 149, 201, 231, 35, 184, 138, 146},
      {153, 86, 115, 76, 74, 102, 64, 93, 100},
      {109, 138, 167, 111, 141, 169, 146, 122, 151}};
  for (const auto& [in_h, in_w, expected] : {std::tuple{3, 4, up}, std::tuple{9, 7, down}}) {
    const int out_h = static_cast<int>(expected.size());
    const int out_w = static_cast<int>(expected[0].size()) / 3;
    const Image out = ghm::io::resize_bilinear(patterned(in_h, in_w), out_h, out_w);
    for (int y = 0; y < out_h; ++y) {
      CAPTURE(y);
      CHECK(std::vector<int>(out.pixel(y, 0), out.pixel(y, 0) + out_w * 3) == expected[static_cast<std::size_t>(y)]);
    }
  }
}

TEST_CASE("resize_bilinear: an exact 2x shrink is the 2x2 mean, rounded half up") {
  Generator rng(2);
  const Image in = random_image(18, 26, rng);
  const Image out = ghm::io::resize_bilinear(in, 9, 13);
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 13; ++x)
      for (int c = 0; c < 3; ++c) {
        const int sum = in.pixel(2 * y, 2 * x)[c] + in.pixel(2 * y, 2 * x + 1)[c] + in.pixel(2 * y + 1, 2 * x)[c] +
                        in.pixel(2 * y + 1, 2 * x + 1)[c];
        CHECK(int{out.pixel(y, x)[c]} == (sum + 2) / 4);
      }
}

TEST_CASE("resize_bilinear: random images against a double-precision reference, within 1") {
  Generator rng(3);
  // up, down, mixed, very thin, large factors, sizes with no common divisor
  const std::array<int, 4> cases[] = {{5, 7, 11, 13}, {37, 41, 5, 9},  {1, 9, 4, 3},  {9, 1, 2, 7},
                                      {64, 48, 127, 95}, {97, 31, 30, 96}, {2, 2, 101, 3}, {480, 640, 800, 1067}};
  for (const auto& c : cases) {
    CAPTURE(c[0]);
    CAPTURE(c[1]);
    CAPTURE(c[2]);
    CAPTURE(c[3]);
    const Image in = random_image(c[0], c[1], rng);
    // Fixed-point weights (11 bits) and float source coordinates, as OpenCV: 1 at most.
    CHECK(max_abs_difference(ghm::io::resize_bilinear(in, c[2], c[3]), reference_resize(in, c[2], c[3])) <= 1);
  }
  CHECK_THROWS_WITH(ghm::io::resize_bilinear(Image(), 4, 4), doctest::Contains("empty image"));
  CHECK_THROWS_WITH(ghm::io::resize_bilinear(Image(2, 2), 0, 4), doctest::Contains("0 x 4 is not positive"));
}

TEST_CASE("flip_horizontal: mirrors columns, twice is the identity") {
  Generator rng(4);
  for (const int width : {1, 2, 7, 8}) {
    const Image original = random_image(5, width, rng);
    Image flipped = original;
    ghm::io::flip_horizontal(flipped);
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < 3; ++c) CHECK(flipped.pixel(y, x)[c] == original.pixel(y, width - 1 - x)[c]);
    ghm::io::flip_horizontal(flipped);
    CHECK(flipped.data == original.data);
  }
}

TEST_CASE("boxes: rescale (float32 product, clipped to the image) and flip (W - x2, W - x1)") {
  const ghm::io::RescaledSize size = ghm::io::rescale_size(480, 640, 800, 1333);  // 800 x 1067
  std::vector<Box> boxes = {{10.5f, 20.25f, 100.0f, 200.0f}, {-5.0f, 470.0f, 700.0f, 490.0f}};
  ghm::io::rescale_boxes(boxes, size);
  CHECK(boxes[0].x1 == 10.5f * size.scale_w);
  CHECK(boxes[0].y1 == 20.25f * size.scale_h);
  CHECK(boxes[0].x2 == 100.0f * size.scale_w);
  CHECK(boxes[0].y2 == 200.0f * size.scale_h);
  CHECK(boxes[1].x1 == 0.0f);      // clipped at the left
  CHECK(boxes[1].y1 == 470.0f * size.scale_h);
  CHECK(boxes[1].x2 == 1067.0f);   // clipped to W, not W - 1
  CHECK(boxes[1].y2 == 800.0f);    // clipped to H

  std::vector<Box> flipped = {{1.0f, 2.0f, 4.5f, 6.0f}, {0.0f, 0.0f, 10.0f, 3.0f}};
  const std::vector<Box> original = flipped;
  ghm::io::flip_boxes_horizontal(flipped, 10);
  CHECK(flipped[0].x1 == 5.5f);
  CHECK(flipped[0].x2 == 9.0f);
  CHECK(flipped[0].y1 == 2.0f);
  CHECK(flipped[0].y2 == 6.0f);
  CHECK(flipped[1].x1 == 0.0f);
  CHECK(flipped[1].x2 == 10.0f);
  ghm::io::flip_boxes_horizontal(flipped, 10);
  for (std::size_t i = 0; i < flipped.size(); ++i) {
    CHECK(flipped[i].x1 == original[i].x1);
    CHECK(flipped[i].x2 == original[i].x2);
  }
}

TEST_CASE("boxes follow the pixels: a filled rectangle through resize and flip") {
  const std::array<std::uint8_t, 3> red = {255, 0, 0};
  const Box drawn = {3, 2, 9, 7};  // covers columns 3..8 and rows 2..6
  Image image = image_with_rectangle(10, 16, drawn, red);

  // Flip: the box's columns are exactly the rectangle's columns in the flipped image.
  Image flipped = image;
  ghm::io::flip_horizontal(flipped);
  std::vector<Box> box = {drawn};
  ghm::io::flip_boxes_horizontal(box, 16);
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 16; ++x) {
      const bool inside = x >= box[0].x1 && x < box[0].x2 && y >= box[0].y1 && y < box[0].y2;
      CHECK(pixel_is(flipped, y, x, inside ? red : std::array<std::uint8_t, 3>{0, 0, 0}));
    }

  // Resize by exactly 2: every pixel at least one pixel inside the scaled box is pure red, every
  // pixel at least one pixel outside is black (bilinear blends only across the edge).
  const ghm::io::RescaledSize size = ghm::io::rescale_size(10, 16, 20, 32);
  REQUIRE(size.height == 20);
  REQUIRE(size.width == 32);
  const Image big = ghm::io::resize_bilinear(image, size.height, size.width);
  box = {drawn};
  ghm::io::rescale_boxes(box, size);
  CHECK(box[0].x1 == 6.0f);
  CHECK(box[0].y1 == 4.0f);
  CHECK(box[0].x2 == 18.0f);
  CHECK(box[0].y2 == 14.0f);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 32; ++x) {
      const float cx = x + 0.5f, cy = y + 0.5f;  // pixel centre
      const bool deep_inside = cx > box[0].x1 + 1 && cx < box[0].x2 - 1 && cy > box[0].y1 + 1 && cy < box[0].y2 - 1;
      const bool far_outside = cx < box[0].x1 - 1 || cx > box[0].x2 + 1 || cy < box[0].y1 - 1 || cy > box[0].y2 + 1;
      if (deep_inside) CHECK(pixel_is(big, y, x, red));
      if (far_outside) CHECK(pixel_is(big, y, x, {0, 0, 0}));
    }
}

TEST_CASE("normalize: (pixel - mean) / std per plane, RGB or BGR planes, strided output") {
  Image image(2, 3);
  for (int i = 0; i < 6; ++i) {
    image.data[static_cast<std::size_t>(i) * 3 + 0] = static_cast<std::uint8_t>(10 * i);        // R
    image.data[static_cast<std::size_t>(i) * 3 + 1] = static_cast<std::uint8_t>(100 + i);       // G
    image.data[static_cast<std::size_t>(i) * 3 + 2] = static_cast<std::uint8_t>(255 - 7 * i);   // B
  }
  const std::array<float, 3>& mean = ghm::io::kImageNetMeanRGB;
  const std::array<float, 3>& stddev = ghm::io::kImageNetStdRGB;
  const Tensor rgb = ghm::io::normalize(image, mean, stddev, ChannelOrder::RGB);  // [3, 2, 3]
  REQUIRE(rgb.shape() == ghm::Shape{3, 2, 3});
  const std::vector<float> v = rgb.to_vector<float>();
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 6; ++i) {
      const double want = (image.data[static_cast<std::size_t>(i) * 3 + c] - double{mean[c]}) / stddev[c];
      // float32 subtract and multiply by a rounded reciprocal: a few ulp of values below 3
      CHECK(v[static_cast<std::size_t>(c * 6 + i)] == doctest::Approx(want).epsilon(1e-6));
    }

  // BGR planes: plane 0 is blue, normalised with mean[0] / std[0] as given.
  const std::array<float, 3> bgr_mean = {103.53f, 116.28f, 123.675f};
  const std::array<float, 3> unit = {1, 1, 1};
  const std::vector<float> bgr = ghm::io::normalize(image, bgr_mean, unit, ChannelOrder::BGR).to_vector<float>();
  for (int i = 0; i < 6; ++i) {
    CHECK(bgr[static_cast<std::size_t>(i)] == static_cast<float>(255 - 7 * i) - 103.53f);
    CHECK(bgr[static_cast<std::size_t>(12 + i)] == static_cast<float>(10 * i) - 123.675f);
  }

  // Into a padded [3, 4, 5] buffer: the image's cells are written, the others untouched.
  const float sentinel = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> padded(3 * 4 * 5, sentinel);
  ghm::io::normalize_into(image, mean, stddev, ChannelOrder::RGB, padded.data(), 5, 20);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 5; ++x) {
        const float got = padded[static_cast<std::size_t>(c * 20 + y * 5 + x)];
        if (y < 2 && x < 3)
          CHECK(got == v[static_cast<std::size_t>(c * 6 + y * 3 + x)]);
        else
          CHECK(std::isnan(got));
      }
  CHECK_THROWS_WITH(ghm::io::normalize_into(image, mean, stddev, ChannelOrder::RGB, padded.data(), 2, 20),
                    doctest::Contains("row stride 2 is less than the width 3"));
  CHECK_THROWS_WITH(ghm::io::normalize_into(image, mean, stddev, ChannelOrder::RGB, padded.data(), 5, 9),
                    doctest::Contains("plane stride 9"));
  CHECK_THROWS_WITH(ghm::io::normalize(image, mean, {1, 0, 1}, ChannelOrder::RGB), doctest::Contains("channel 1"));
}

TEST_CASE("padded_size: up to a multiple of the divisor") {
  CHECK(ghm::io::padded_size(1067, 128) == 1152);
  CHECK(ghm::io::padded_size(800, 128) == 896);
  CHECK(ghm::io::padded_size(800, 32) == 800);
  CHECK(ghm::io::padded_size(801, 32) == 832);
  CHECK(ghm::io::padded_size(0, 32) == 0);
  CHECK(ghm::io::padded_size(5, 1) == 5);
  CHECK_THROWS_WITH(ghm::io::padded_size(5, 0), doctest::Contains("divisor 0"));
}

TEST_CASE("boxes_to_tensor and boxes_from_tensor round-trip") {
  const std::vector<Box> boxes = {{1, 2, 3, 4}, {5.5f, 6.5f, 7.5f, 8.5f}};
  const Tensor t = ghm::io::boxes_to_tensor(boxes);
  REQUIRE(t.shape() == ghm::Shape{2, 4});
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5.5f, 6.5f, 7.5f, 8.5f});
  const std::vector<Box> back = ghm::io::boxes_from_tensor(t);
  REQUIRE(back.size() == 2);
  CHECK(back[1].x1 == 5.5f);
  CHECK(back[1].y2 == 8.5f);
  CHECK(ghm::io::boxes_to_tensor({}).shape() == ghm::Shape{0, 4});
  CHECK_THROWS_WITH(ghm::io::boxes_from_tensor(Tensor::zeros(ghm::Shape{2, 3})), doctest::Contains("[2, 3]"));
}
