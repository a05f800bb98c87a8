// RoIAlign (core/ops/roi_align.h) beyond the fixtures against torchvision (test_fixtures.cpp) and
// the op table's finite differences: the exact value on a linear ramp, where bilinear sampling is
// exact and the mean of a bin's samples is the ramp at the bin's centre; boxes outside the map;
// the same bits for any thread count; errors naming the box or the shape.
#include <doctest/doctest.h>
#include <omp.h>

#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/random.h"
#include "core/ops/roi_align.h"

using namespace ghm;

namespace {

// x[0, c, i, j] = a_c * i + b_c * j + d_c on an h x w map.
Tensor ramp(std::int64_t h, std::int64_t w) {
  std::vector<float> v;
  for (int c = 0; c < 2; ++c)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) v.push_back((c ? -0.5f : 2.0f) * i + (c ? 3.0f : 0.25f) * j + c);
  return Tensor::from_vector(v, Shape{1, 2, h, w});
}

Tensor rois(const std::vector<float>& v) {
  return Tensor::from_vector(v, Shape{static_cast<std::int64_t>(v.size() / 5), 5});
}

}  // namespace

TEST_CASE("roi_align: on a linear ramp each cell is the ramp at its centre") {
  const Tensor x = ramp(16, 20);
  // A box well inside (feature coordinates 2.5..11.5 x 3..9 at scale 0.5), 3 x 4 cells.
  for (const bool aligned : {false, true})
    for (const int sampling : {1, 2, -1}) {
      CAPTURE(aligned);
      CAPTURE(sampling);
      const RoiAlignParams p{3, 4, 0.5f, sampling, aligned};
      const Tensor y = roi_align(x, rois({0, 5.f, 6.f, 23.f, 18.f}), p);
      REQUIRE(y.shape() == Shape{1, 2, 3, 4});
      const float off = aligned ? 0.5f : 0.f;
      const float y0 = 6.f * 0.5f - off, x0 = 5.f * 0.5f - off;
      const float bin_h = (18.f - 6.f) * 0.5f / 3, bin_w = (23.f - 5.f) * 0.5f / 4;
      for (int c = 0; c < 2; ++c)
        for (int ph = 0; ph < 3; ++ph)
          for (int pw = 0; pw < 4; ++pw) {
            const float ci = y0 + (ph + 0.5f) * bin_h, cj = x0 + (pw + 0.5f) * bin_w;
            const float expected = (c ? -0.5f : 2.0f) * ci + (c ? 3.0f : 0.25f) * cj + c;
            CHECK(y.data<float>()[(c * 3 + ph) * 4 + pw] == doctest::Approx(expected).epsilon(1e-5));
          }
    }
}

TEST_CASE("roi_align: a box outside the map pools zeros and passes no gradient") {
  Tensor x = ramp(6, 6).detach();
  x.set_requires_grad(true);
  const Tensor y = roi_align(x, rois({0, 40.f, 40.f, 60.f, 50.f}), RoiAlignParams{2, 2, 1.0f, 2, false});
  for (const float v : y.to_vector<float>()) CHECK(v == 0.f);
  y.backward(Tensor::full(y.shape(), 1.0f));
  for (const float g : x.grad().to_vector<float>()) CHECK(g == 0.f);
}

TEST_CASE("roi_align: the same bits for one and two threads, forward and backward") {
  Generator gen(5);
  const Tensor x0 = Tensor::normal(Shape{2, 8, 23, 31}, 0, 1, gen);
  std::vector<float> boxes;
  for (int k = 0; k < 40; ++k) {
    const float bx = gen.uniform(-10.f, 120.f), by = gen.uniform(-10.f, 90.f);
    const float bw = gen.uniform(0.f, 60.f), bh = gen.uniform(0.f, 50.f);
    boxes.insert(boxes.end(), {static_cast<float>(k % 2), bx, by, bx + bw, by + bh});
  }
  const Tensor r = rois(boxes);
  const auto run = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor x = x0.clone();
    x.set_requires_grad(true);
    const Tensor y = roi_align(x, r, RoiAlignParams{7, 7, 0.25f, -1, false});
    y.backward(Tensor::full(y.shape(), 0.5f));
    omp_set_num_threads(before);
    return std::make_pair(y.to_vector<float>(), x.grad().to_vector<float>());
  };
  const auto one = run(1), two = run(2);
  CHECK(one.first == two.first);
  CHECK(one.second == two.second);
}

TEST_CASE("roi_align: errors name the box or the shape") {
  const Tensor x = ramp(6, 6);
  CHECK_THROWS_WITH_AS(roi_align(x, rois({0, 1, 1, 3, 3, 1, 1, 1, 3, 3}), RoiAlignParams{}),
                       doctest::Contains("box 1 has batch index 1, not a whole number in [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(roi_align(x, rois({0.5f, 1, 1, 3, 3}), RoiAlignParams{}), doctest::Contains("box 0"), Error);
  CHECK_THROWS_WITH_AS(roi_align(x, Tensor::zeros(Shape{2, 4}), RoiAlignParams{}),
                       doctest::Contains("rois must be [K, 5]"), Error);
  CHECK_THROWS_WITH_AS(roi_align(x, rois({0, 1, 1, 3, 3}), RoiAlignParams{0, 7, 1.0f, -1, false}),
                       doctest::Contains("output size 0x7"), Error);
  CHECK_THROWS_WITH_AS(roi_align(x, rois({0, 1, 1, 3, 3}), RoiAlignParams{7, 7, 0.0f, -1, false}),
                       doctest::Contains("spatial_scale must be positive"), Error);
}
