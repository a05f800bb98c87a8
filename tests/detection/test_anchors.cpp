// RetinaNet anchors (detection/anchors.h) against a brute-force double construction written here and,
// bit for bit, against mmdetection v2's AnchorGenerator (fixtures from tools/make_fixtures_detection.py,
// tests/data/detection_anchors.safetensors; per case and level l: base_anchors<l>, anchors<l>,
// valid_flags<l>, plus inside_flags over all levels; params: the config, feature_sizes, pad_shape,
// img_shape, allowed_border).
//
// Anchors are compared exactly: anchors.h promises mmdet's float32 values, and every operation
// (sqrt, 1/x, products, +-0.5 w, + integer shift) is correctly rounded on both sides. The double
// reference allows 1e-5 relative (the float32 rounding of sizes up to ~1000).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "detection/anchors.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tests/detection/detection_cases.h"

using namespace ghm;
using namespace ghm::detection;

namespace {

using Fixture = testing::DetectionFixture;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

AnchorConfig config_of(const io::Json& p) {
  AnchorConfig c;
  c.strides.clear();
  c.ratios.clear();
  for (const io::Json& s : p.at("strides").as_array()) c.strides.push_back(static_cast<int>(s.as_int()));
  for (const io::Json& r : p.at("ratios").as_array()) c.ratios.push_back(static_cast<float>(r.as_double()));
  c.octave_base_scale = static_cast<int>(p.at("octave_base_scale").as_int());
  c.scales_per_octave = static_cast<int>(p.at("scales_per_octave").as_int());
  return c;
}

std::vector<FeatureSize> sizes_of(const io::Json& p) {
  std::vector<FeatureSize> sizes;
  for (const io::Json& s : p.at("feature_sizes").as_array()) sizes.push_back({s.at(0).as_int(), s.at(1).as_int()});
  return sizes;
}

ImageSize image_of(const io::Json& j) { return {j.at(0).as_int(), j.at(1).as_int()}; }

}  // namespace

TEST_CASE("anchors: equal to mmdetection's AnchorGenerator bit for bit, with valid and inside flags") {
  const Fixture f("anchors");
  REQUIRE(f.num_cases >= 3);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = f.params(i);
    const AnchorGenerator gen(config_of(p));
    const std::vector<FeatureSize> sizes = sizes_of(p);
    const ImageSize pad = image_of(p.at("pad_shape"));
    for (int l = 0; l < gen.num_levels(); ++l) {
      CAPTURE(l);
      const std::string lv = std::to_string(l);
      CHECK(same_bits(gen.base_anchors(l), f.get(i, "base_anchors" + lv)));
      CHECK(same_bits(gen.grid_anchors(l, sizes[l]), f.get(i, "anchors" + lv)));
      CHECK(same_bits(gen.valid_flags(l, sizes[l], pad), f.get(i, "valid_flags" + lv)));
    }
    const MultiLevelAnchors all = gen.grid_anchors(sizes);
    const Tensor valid = gen.valid_flags(sizes, pad);
    const Tensor inside = anchor_inside_flags(all.anchors, valid, image_of(p.at("img_shape")),
                                              static_cast<int>(p.at("allowed_border").as_int()));
    CHECK(same_bits(inside, f.get(i, "inside_flags")));
  }
}

TEST_CASE("anchors: the RetinaNet layout, against a double construction") {
  const AnchorGenerator gen;  // strides 8..128, ratios {0.5, 1, 2}, scales 4 * 2^{0, 1/3, 2/3}
  REQUIRE(gen.num_levels() == 5);
  REQUIRE(gen.anchors_per_location() == 9);
  const double ratios[3] = {0.5, 1.0, 2.0};
  for (int l = 0; l < 5; ++l) {
    const int stride = 8 << l;
    const FeatureSize size{3, 5};  // odd, non-square
    const Tensor anchors = gen.grid_anchors(l, size);
    REQUIRE(anchors.shape() == Shape{3 * 5 * 9, 4});
    const float* p = anchors.data<float>();
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 5; ++x)
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s) {
            // Row (y * W + x) * A + a, a = ratio * 3 + scale: ratio-major, scale fastest.
            const float* row = p + 4 * ((y * 5 + x) * 9 + r * 3 + s);
            const double scale = 4.0 * std::pow(2.0, s / 3.0);
            const double w = stride * scale / std::sqrt(ratios[r]), h = stride * scale * std::sqrt(ratios[r]);
            const double expect[4] = {x * stride - w / 2, y * stride - h / 2, x * stride + w / 2, y * stride + h / 2};
            for (int k = 0; k < 4; ++k) CHECK(row[k] == doctest::Approx(expect[k]).epsilon(1e-5));
          }
  }
  // P3's first anchor: ratio 0.5 (wide: w = 32 sqrt 2, h = 16 sqrt 2), scale 4, centred on (0, 0).
  const std::vector<float> first(gen.base_anchors(0).data<float>(), gen.base_anchors(0).data<float>() + 4);
  CHECK(first[2] == doctest::Approx(16 * std::sqrt(2.0)).epsilon(1e-6));
  CHECK(first[3] == doctest::Approx(8 * std::sqrt(2.0)).epsilon(1e-6));
}

TEST_CASE("anchors: cache by (level, H, W), multi-level offsets, empty maps") {
  const AnchorGenerator gen;
  const Tensor a = gen.grid_anchors(1, {4, 6});
  CHECK(gen.grid_anchors(1, {4, 6}).shares_storage_with(a));
  CHECK_FALSE(gen.grid_anchors(1, {6, 4}).shares_storage_with(a));
  CHECK_FALSE(gen.grid_anchors(2, {4, 6}).shares_storage_with(a));
  // Beyond the cache's capacity the oldest grids are dropped; results stay correct.
  for (std::int64_t h = 1; h <= static_cast<std::int64_t>(AnchorGenerator::kCacheEntries) + 10; ++h)
    (void)gen.grid_anchors(0, {h, 1});
  const Tensor again = gen.grid_anchors(1, {4, 6});
  CHECK(same_bits(again, a));
  CHECK(same_bits(gen.grid_anchors(0, {1, 1}), grid_anchors(gen.base_anchors(0), {1, 1}, 8)));

  const std::vector<FeatureSize> sizes = {{4, 6}, {2, 3}, {1, 2}, {1, 1}, {0, 1}};
  const MultiLevelAnchors all = gen.grid_anchors(sizes);
  CHECK(all.level_begin == std::vector<std::int64_t>{0, 216, 270, 288, 297, 297});
  CHECK(all.anchors.shape() == Shape{297, 4});
  CHECK(std::memcmp(all.anchors.data<float>() + 216 * 4, gen.grid_anchors(1, {2, 3}).data<float>(), 54 * 16) == 0);
  CHECK(gen.valid_flags(sizes, {32, 48}).shape() == Shape{297});
}

TEST_CASE("anchors: valid flags from the pad shape, inside flags from the image and border") {
  const AnchorGenerator gen;
  // Level 0 (stride 8), map 4x6, image padded to 20x33: valid rows y < ceil(20/8) = 3, cols x < 5.
  const Tensor valid = gen.valid_flags(0, {4, 6}, {20, 33});
  const std::uint8_t* v = valid.data<std::uint8_t>();
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x)
      for (int a = 0; a < 9; ++a) CHECK(v[(y * 6 + x) * 9 + a] == ((y < 3 && x < 5) ? 1 : 0));

  // allowed_border < 0 keeps every valid anchor; >= 0 drops those crossing the image.
  const Tensor anchors = gen.grid_anchors(0, {4, 6});
  CHECK(same_bits(anchor_inside_flags(anchors, valid, {20, 33}, -1), valid));
  const Tensor inside = anchor_inside_flags(anchors, valid, {20, 33}, 0);
  const Tensor inside_wide = anchor_inside_flags(anchors, valid, {20, 33}, 1000);
  CHECK(same_bits(inside_wide, valid));
  const float* box = anchors.data<float>();
  for (std::int64_t i = 0; i < anchors.size(0); ++i) {
    const float* b = box + 4 * i;
    const bool expect = v[i] && b[0] >= 0 && b[1] >= 0 && b[2] < 33 && b[3] < 20;
    CHECK(inside.data<std::uint8_t>()[i] == (expect ? 1 : 0));
  }
}

TEST_CASE("anchors: input validation names the op") {
  const AnchorGenerator gen;
  CHECK_THROWS_WITH_AS(gen.grid_anchors(5, {2, 2}), doctest::Contains("level 5 out of range"), Error);
  CHECK_THROWS_WITH_AS(gen.grid_anchors(0, {-1, 2}), doctest::Contains("grid_anchors"), Error);
  const std::vector<FeatureSize> three(3, FeatureSize{1, 1});
  CHECK_THROWS_WITH_AS(gen.grid_anchors(three), doctest::Contains("3 feature sizes for 5 levels"), Error);
  CHECK_THROWS_WITH_AS(anchor_inside_flags(Tensor::zeros({4, 4}), Tensor::zeros({3}, DType::U8), {8, 8}, 0),
                       doctest::Contains("anchor_inside_flags: valid_flags must be [4]"), Error);
  CHECK_THROWS_AS(AnchorGenerator(AnchorConfig{{8}, {0.5f, -1.f}, 4, 3}), Error);
  CHECK_THROWS_AS(AnchorGenerator(AnchorConfig{{}, {1.f}, 4, 3}), Error);
}
