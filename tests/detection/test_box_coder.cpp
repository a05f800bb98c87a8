// DeltaXYWHBBoxCoder (detection/box_coder.h) against a brute-force double reference written here
// and against mmdetection's bbox2delta / delta2bbox (fixtures from
// tools/make_fixtures_detection.py, tests/data/detection_box_coder.safetensors; each case: anchors,
// gt, deltas = encode(anchors, gt), decode_anchors (some of zero size in one case), deltas_in,
// decoded and decoded_clipped = decode(decode_anchors, deltas_in); params means, stds, max_shape).
//
// Tolerances (why): we compare the normalised error max|ours - ref| / max(1, max|ref|).
//  - against the float32 reference: 2e-6. The same float32 operations in the same order, except
//    that exp/log (glibc vs PyTorch's vectorised SLEEF) may differ by an ulp and GCC may fuse
//    px + pw * dx into an FMA: a few ulp of the largest value.
//  - against the double reference: 1e-5. Deltas divide by anchor sizes and decoded boxes multiply
//    by exp(4.1) ~ 60, which amplifies the float32 rounding of the inputs.
// A wrong centre, a "+1" width or a missing clamp errs by far more than 1e-3.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "detection/box_coder.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tests/detection/detection_cases.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

constexpr double kFixtureTol = 2e-6;
constexpr double kDoubleTol = 1e-5;

using Fixture = testing::DetectionFixture;

double normalised_error(const Tensor& ours, const Tensor& ref) { return testing::host_normalised_error(ours, ref); }

std::array<float, 4> floats4(const io::Json& j) {
  std::array<float, 4> v{};
  for (std::size_t k = 0; k < 4; ++k) v[k] = static_cast<float>(j.at(k).as_double());
  return v;
}

// The formulas of box_coder.h in double.
void ref_encode(const float* p, const float* g, const BoxCoderParams& c, double* d) {
  const double px = (double{p[0]} + p[2]) / 2, py = (double{p[1]} + p[3]) / 2;
  const double pw = double{p[2]} - p[0], ph = double{p[3]} - p[1];
  const double gx = (double{g[0]} + g[2]) / 2, gy = (double{g[1]} + g[3]) / 2;
  const double gw = double{g[2]} - g[0], gh = double{g[3]} - g[1];
  const double raw[4] = {(gx - px) / pw, (gy - py) / ph, std::log(gw / pw), std::log(gh / ph)};
  for (int k = 0; k < 4; ++k) d[k] = (raw[k] - c.means[k]) / c.stds[k];
}

void ref_decode(const float* p, const float* delta, const BoxCoderParams& c, const ImageSize* clip, double* box) {
  double d[4];
  for (int k = 0; k < 4; ++k) d[k] = double{delta[k]} * c.stds[k] + c.means[k];
  const double r = std::abs(std::log(16.0 / 1000.0));
  d[2] = std::clamp(d[2], -r, r);
  d[3] = std::clamp(d[3], -r, r);
  const double px = (double{p[0]} + p[2]) / 2, py = (double{p[1]} + p[3]) / 2;
  const double pw = double{p[2]} - p[0], ph = double{p[3]} - p[1];
  const double gx = px + pw * d[0], gy = py + ph * d[1], gw = pw * std::exp(d[2]), gh = ph * std::exp(d[3]);
  const double b[4] = {gx - gw / 2, gy - gh / 2, gx + gw / 2, gy + gh / 2};
  for (int k = 0; k < 4; ++k) {
    const double limit =
        k % 2 == 0 ? (clip ? static_cast<double>(clip->width) : 0) : (clip ? static_cast<double>(clip->height) : 0);
    box[k] = clip ? std::clamp(b[k], 0.0, limit) : b[k];
  }
}

Tensor random_anchors(std::int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> pos(-20.f, 200.f), size(2.f, 120.f);
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) {
    const float x = pos(rng), y = pos(rng);
    v.insert(v.end(), {x, y, x + size(rng), y + size(rng)});
  }
  return Tensor::from_vector(v, Shape{n, 4});
}

Tensor random_deltas(std::int64_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v;
  for (std::int64_t i = 0; i < 4 * n; ++i) v.push_back(d(rng));
  return Tensor::from_vector(v, Shape{n, 4});
}

}  // namespace

TEST_CASE("box coder: mmdetection bbox2delta / delta2bbox fixtures") {
  const Fixture f("box_coder");
  REQUIRE(f.num_cases >= 4);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = f.params(i);
    const BoxCoderParams params{floats4(p.at("means")), floats4(p.at("stds"))};
    const ImageSize clip{p.at("max_shape").at(0).as_int(), p.at("max_shape").at(1).as_int()};
    const Tensor anchors = f.get(i, "anchors");
    CHECK(normalised_error(encode_box_deltas(anchors, f.get(i, "gt"), params), f.get(i, "deltas")) <= kFixtureTol);
    const Tensor decode_anchors = f.get(i, "decode_anchors"), deltas_in = f.get(i, "deltas_in");
    CHECK(normalised_error(decode_box_deltas(decode_anchors, deltas_in, std::nullopt, params), f.get(i, "decoded")) <=
          kFixtureTol);
    CHECK(normalised_error(decode_box_deltas(decode_anchors, deltas_in, clip, params), f.get(i, "decoded_clipped")) <=
          kFixtureTol);
  }
}

TEST_CASE("box coder: random anchors against the double reference, odd sizes") {
  std::mt19937 rng(3);
  const std::vector<BoxCoderParams> all_params = {BoxCoderParams{},
                                                  BoxCoderParams{{0.1f, -0.2f, 0.05f, 0.f}, {0.1f, 0.1f, 0.2f, 0.3f}}};
  for (const std::int64_t n : {1, 3, 127, 9001}) {
    for (const BoxCoderParams& params : all_params) {
      CAPTURE(n);
      const Tensor anchors = random_anchors(n, rng), boxes = random_anchors(n, rng);
      const Tensor deltas = random_deltas(n, rng, 2.5f);  // |dw| beyond the clamp happens
      const ImageSize clip{150, 170};
      const Tensor enc = encode_box_deltas(anchors, boxes, params);
      const Tensor dec = decode_box_deltas(anchors, deltas, std::nullopt, params);
      const Tensor dec_clip = decode_box_deltas(anchors, deltas, clip, params);
      Tensor ref_enc = Tensor::empty({n, 4}), ref_dec = Tensor::empty({n, 4}), ref_clip = Tensor::empty({n, 4});
      for (std::int64_t r = 0; r < n; ++r) {
        double e[4], d[4], c[4];
        ref_encode(anchors.data<float>() + 4 * r, boxes.data<float>() + 4 * r, params, e);
        ref_decode(anchors.data<float>() + 4 * r, deltas.data<float>() + 4 * r, params, nullptr, d);
        ref_decode(anchors.data<float>() + 4 * r, deltas.data<float>() + 4 * r, params, &clip, c);
        for (int k = 0; k < 4; ++k) {
          ref_enc.data<float>()[4 * r + k] = static_cast<float>(e[k]);
          ref_dec.data<float>()[4 * r + k] = static_cast<float>(d[k]);
          ref_clip.data<float>()[4 * r + k] = static_cast<float>(c[k]);
        }
      }
      CHECK(normalised_error(enc, ref_enc) <= kDoubleTol);
      CHECK(normalised_error(dec, ref_dec) <= kDoubleTol);
      CHECK(normalised_error(dec_clip, ref_clip) <= kDoubleTol);
    }
  }
}

TEST_CASE("box coder: decode(encode(box)) returns the box") {
  std::mt19937 rng(5);
  const std::int64_t n = 513;
  const Tensor anchors = random_anchors(n, rng);
  // Boxes within the clamp (sizes within 60x of the anchor's) so that the round trip is exact.
  std::vector<float> v;
  std::uniform_real_distribution<float> shift(-0.5f, 0.5f), scale(0.2f, 5.f);
  for (std::int64_t i = 0; i < n; ++i) {
    const float* a = anchors.data<float>() + 4 * i;
    const float w = a[2] - a[0], h = a[3] - a[1];
    const float cx = (a[0] + a[2]) / 2 + shift(rng) * w, cy = (a[1] + a[3]) / 2 + shift(rng) * h;
    const float bw = w * scale(rng), bh = h * scale(rng);
    v.insert(v.end(), {cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2});
  }
  const Tensor boxes = Tensor::from_vector(v, Shape{n, 4});
  for (const BoxCoderParams& params :
       {BoxCoderParams{}, BoxCoderParams{{0.f, 0.f, 0.f, 0.f}, {0.1f, 0.1f, 0.2f, 0.2f}}}) {
    const Tensor back = decode_box_deltas(anchors, encode_box_deltas(anchors, boxes, params), std::nullopt, params);
    // A log then an exp and a few float32 roundings on coordinates up to ~500: 1e-5 normalised.
    CHECK(normalised_error(back, boxes) <= 1e-5);
  }
}

TEST_CASE("box coder: clamp of dw/dh, clipping, zero-size and degenerate boxes, empty input") {
  const Tensor anchor = Tensor::from_vector<float>({0, 0, 16, 8}, Shape{1, 4});
  // dw = 10 decodes like dw = log(1000 / 16): width 16 * 62.5 = 1000.
  const Tensor big = decode_box_deltas(anchor, Tensor::from_vector<float>({0, 0, 10, -10}, Shape{1, 4}));
  const float* b = big.data<float>();
  CHECK(b[2] - b[0] == doctest::Approx(1000.0).epsilon(1e-6));
  CHECK(b[3] - b[1] == doctest::Approx(8 * 0.016).epsilon(1e-5));
  // Clipping to (h, w) = (5, 12): x to [0, 12], y to [0, 5].
  const Tensor clipped =
      decode_box_deltas(anchor, Tensor::from_vector<float>({0, 0, 10, 10}, Shape{1, 4}), ImageSize{5, 12});
  CHECK(clipped.to_vector<float>() == std::vector<float>{0.f, 0.f, 12.f, 5.f});
  // A zero-size anchor decodes to a zero-size box at its centre, whatever the deltas.
  const Tensor point = Tensor::from_vector<float>({3, 4, 3, 4}, Shape{1, 4});
  const Tensor dp = decode_box_deltas(point, Tensor::from_vector<float>({1.5f, -2.f, 3.f, 1.f}, Shape{1, 4}));
  CHECK(dp.to_vector<float>() == std::vector<float>{3.f, 4.f, 3.f, 4.f});
  // A zero-width box gives dw = -inf, as in the reference (no eps): callers drop such boxes.
  const Tensor flat = Tensor::from_vector<float>({5, 0, 5, 8}, Shape{1, 4});
  const std::vector<float> d = encode_box_deltas(anchor, flat).to_vector<float>();
  CHECK(std::isinf(d[2]));
  CHECK(d[2] < 0.f);
  CHECK(d[3] == 0.f);
  // Empty input.
  CHECK(encode_box_deltas(Tensor::zeros({0, 4}), Tensor::zeros({0, 4})).shape() == Shape{0, 4});
  CHECK(decode_box_deltas(Tensor::zeros({0, 4}), Tensor::zeros({0, 4}), ImageSize{4, 4}).shape() == Shape{0, 4});
}

TEST_CASE("box coder: input validation names the op and the shapes") {
  const Tensor a = Tensor::zeros({3, 4});
  CHECK_THROWS_WITH_AS(encode_box_deltas(a, Tensor::zeros({2, 4})),
                       doctest::Contains("encode_box_deltas: anchors [3, 4]"), Error);
  CHECK_THROWS_WITH_AS(decode_box_deltas(a, Tensor::zeros({3, 5})), doctest::Contains("decode_box_deltas: deltas"),
                       Error);
  BoxCoderParams bad;
  bad.stds[2] = 0.f;
  CHECK_THROWS_WITH_AS(encode_box_deltas(a, a, bad), doctest::Contains("stds"), Error);
  CHECK_THROWS_AS(decode_box_deltas(a, a, ImageSize{-1, 3}), Error);
}
