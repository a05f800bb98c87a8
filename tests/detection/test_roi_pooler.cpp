// Multi-level RoIAlign (detection/roi_pooler.h) against torchvision's MultiScaleRoIAlign on the
// fixtures of tools/make_fixtures_two_stage.py (P2-P5, 7 x 7, sampling ratio 2: the pooled boxes
// and the gradient of every map), and the level rule at its boundaries.
//
// Tolerance (why): the levels and sample points are computed with torchvision's float operations
// in its order, so a box only pools from another level if its log2 lands within an ulp of an
// integer; the pooled values then differ by float32 rounding of sums of a few dozen terms. 2e-5
// of the largest value leaves room for that and for nothing like a wrong level or sample.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "detection/roi_pooler.h"
#include "detection_cases.h"

using namespace ghm;
using namespace ghm::detection;
using ghm::testing::DetectionFixture;
using ghm::testing::host_normalised_error;

namespace {

Tensor box(float x1, float y1, float x2, float y2) {
  return Tensor::from_vector<float>({0, x1, y1, x2, y2}, Shape{1, 5});
}

int level_of(float side) { return roi_levels(box(10, 10, 10 + side, 10 + side), 2, 5, RoiPoolerConfig{})[0] + 2; }

}  // namespace

TEST_CASE("roi pooler: agrees with torchvision's MultiScaleRoIAlign, values and map gradients") {
  const DetectionFixture f("roi_pooler");
  REQUIRE(f.num_cases >= 3);
  std::set<int> levels_seen;
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    std::int64_t image_h = 0, image_w = 0;
    const io::Json params = f.params(i);
    for (const io::Json& s : params.at("image_sizes").as_array()) {
      image_h = std::max(image_h, s.at(0).as_int());
      image_w = std::max(image_w, s.at(1).as_int());
    }
    std::vector<Tensor> maps;
    for (int l = 0; l < 4; ++l) maps.push_back(f.leaf(i, "map" + std::to_string(l)));
    const Tensor boxes = f.get(i, "boxes");
    for (const int l : roi_levels(boxes, 2, 5, RoiPoolerConfig{})) levels_seen.insert(l);
    const Tensor y = multi_scale_roi_align(maps, boxes, image_h, image_w, RoiPoolerConfig{});
    const double forward_error = host_normalised_error(y, f.get(i, "output"));
    CHECK(forward_error <= 2e-5);
    y.backward(f.get(i, "grad_output"));
    for (int l = 0; l < 4; ++l) {
      CAPTURE(l);
      const Tensor ref = f.get(i, "grad_map" + std::to_string(l));
      if (!maps[l].grad().defined()) {  // no box of this case pooled from the map
        for (const float g : ref.to_vector<float>()) CHECK(g == 0.f);
        continue;
      }
      CHECK(host_normalised_error(maps[l].grad(), ref) <= 2e-5);
    }
  }
  CHECK(levels_seen.size() == 4);  // every level pooled some box
}

TEST_CASE("roi pooler: a 224-px box pools from P4, halving or doubling moves one level, clamped to P2..P5") {
  CHECK(level_of(224.f) == 4);
  CHECK(level_of(112.f) == 3);
  CHECK(level_of(111.f) == 2);
  CHECK(level_of(448.f) == 5);
  CHECK(level_of(447.f) == 4);
  CHECK(level_of(2.f) == 2);
  CHECK(level_of(5000.f) == 5);
  CHECK(infer_scale(50, 200) == 0.25f);
  CHECK(infer_scale(56, 200) == 0.25f);  // a padded map: the nearest power of two
  CHECK(infer_scale(7, 200) == 0.03125f);
}

TEST_CASE("roi pooler: no boxes give an empty result, and maps that do not halve are an error") {
  Generator gen(3);
  const std::vector<Tensor> maps = {Tensor::normal(Shape{1, 2, 16, 16}, 0, 1, gen),
                                    Tensor::normal(Shape{1, 2, 8, 8}, 0, 1, gen)};
  const Tensor none = multi_scale_roi_align(maps, Tensor::empty(Shape{0, 5}), 64, 64, RoiPoolerConfig{});
  CHECK(none.shape() == Shape{0, 2, 7, 7});
  const std::vector<Tensor> gap = {maps[0], Tensor::normal(Shape{1, 2, 4, 4}, 0, 1, gen)};
  CHECK_THROWS_WITH_AS(multi_scale_roi_align(gap, box(0, 0, 10, 10), 64, 64, RoiPoolerConfig{}),
                       doctest::Contains("each map must be half the size of the one before"), Error);
}
