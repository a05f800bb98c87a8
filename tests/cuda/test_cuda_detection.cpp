// Backend consistency for the detection ops on CUDA (detection/cuda/): box_overlaps (IoU and IoF),
// encode_box_deltas / decode_box_deltas, nms and batched_nms, against their CPU twins on the same
// random inputs; odd sizes, sizes around the 64-box mask words and the 256-thread blocks, single
// boxes, empty inputs, degenerate boxes, score ties, and run-to-run determinism. Run only where a
// GPU is present.
//
// Tolerances (why):
//   IoU / IoF: exact. Both backends evaluate the same float32 expression in the same order and
//     neither fuses a multiply-add (--fmad=false for the .cu files, -ffp-contract=off for the CPU
//     files: detection/CMakeLists.txt); + - * / are correctly rounded on both.
//   encode: dx, dy exact (only + - / and the same order). dw, dh = logf(gw / pw): the device's logf
//     is within 1 ulp, glibc's within 1 ulp, so normalised error <= 1e-6 (~8 ulp of the largest
//     |delta|; a wrong formula errs by > 1e-3).
//   decode: exact where dw = dh = 0 (expf(0) = 1 on both). Otherwise expf (device max 2 ulp, glibc
//     under 1 ulp) moves a width by a few ulp and so a corner by a few ulp of the largest
//     coordinate: normalised error <= 1e-6.
//   NMS: the kept indices are integers and must be equal, element for element: the IoU is the
//     CPU's bit for bit, so every `IoU > thr` decision is the same.
//   Multi-level RoIAlign: exact, values and map gradients. The levels are decided on the host for
//     both, and roi_align's kernels compute the same samples and add in the same order
//     (core/ops/roi_align_math.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "detection/box_coder.h"
#include "detection/iou.h"
#include "detection/nms.h"
#include "detection/roi_pooler.h"
#include "detection/retinanet/postprocess.h"
#include "core/random.h"
#include "compare.h"
#include "tests/detection/detection_cases.h"

using namespace ghm;
using namespace ghm::detection;
using ghm::testing::normalised_error;
using ghm::testing::Detections;
using ghm::testing::random_boxes;
using ghm::testing::random_detections;
using ghm::testing::random_proper_boxes;

namespace {

const Device kGpu = Device::cuda(0);

constexpr double kCoderTol = 1e-6;

using Indices = std::vector<std::int64_t>;

// Elements where a and b differ (NaN matches NaN; -0 matches +0); either may be on the GPU.
std::int64_t mismatches(const Tensor& a_in, const Tensor& b_in) {
  REQUIRE(a_in.shape() == b_in.shape());
  const std::vector<float> a = a_in.to(Device::cpu()).to_vector<float>(), b = b_in.to(Device::cpu()).to_vector<float>();
  std::int64_t count = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) ++count;
  return count;
}

// Column k of an [N, 4] tensor, as a [N] tensor on the CPU.
Tensor column(const Tensor& t, int k) {
  const Tensor c = t.to(Device::cpu());
  const std::int64_t n = c.size(0);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = c.data<float>()[4 * i + k];
  return Tensor::from_vector(v, Shape{n});
}

void check_overlaps(const Tensor& b1, const Tensor& b2) {
  for (const OverlapMode mode : {OverlapMode::IoU, OverlapMode::IoF}) {
    INFO((mode == OverlapMode::IoU ? "IoU" : "IoF") << " of " << b1.shape() << " x " << b2.shape());
    const Tensor want = box_overlaps(b1, b2, mode);
    const Tensor got = box_overlaps(b1.to(kGpu), b2.to(kGpu), mode);
    REQUIRE(got.device() == kGpu);
    CHECK(got.shape() == want.shape());
    const double err = normalised_error(got, want);
    INFO("normalised error " << err);
    CHECK(mismatches(got, want) == 0);
  }
}

Indices indices_of(const Tensor& kept_on_gpu) {
  REQUIRE(kept_on_gpu.device() == kGpu);
  REQUIRE(kept_on_gpu.dtype() == DType::I64);
  REQUIRE(kept_on_gpu.dim() == 1);
  return kept_on_gpu.to(Device::cpu()).to_vector<std::int64_t>();
}

Tensor to_i32(const Tensor& ids) {
  std::vector<std::int32_t> v;
  for (const std::int64_t c : ids.to_vector<std::int64_t>()) v.push_back(static_cast<std::int32_t>(c));
  return Tensor::from_vector(v, ids.shape());
}

void check_nms(const Tensor& boxes, const Tensor& scores, const Tensor& classes, float thr) {
  CAPTURE(thr);
  const Tensor bg = boxes.to(kGpu), sg = scores.to(kGpu);
  CHECK(indices_of(nms(bg, sg, thr)) == nms(boxes, scores, thr).to_vector<std::int64_t>());
  const Indices want = batched_nms(boxes, scores, classes, thr).to_vector<std::int64_t>();
  CHECK(indices_of(batched_nms(bg, sg, classes.to(kGpu), thr)) == want);
  CHECK(indices_of(batched_nms(bg, sg, to_i32(classes).to(kGpu), thr)) == want);
}

}  // namespace

TEST_CASE("cuda detection: IoU and IoF equal the CPU's bit for bit") {
  std::mt19937 rng(101);
  // Sizes around the 256-thread block and the grid-stride loop, single boxes, empty sets.
  for (const auto& [n, m] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {1, 1}, {1, 257}, {7, 13}, {33, 255}, {300, 511}, {1000, 1001}, {0, 5}, {5, 0}, {0, 0}})
    check_overlaps(random_boxes(n, rng), random_boxes(m, rng));
  // Large coordinates, and the same set on both sides (the diagonal is 1 or, for a zero area, 0).
  const Tensor big = random_boxes(123, rng, 2000.f, 600.f);
  check_overlaps(big, big);
  check_overlaps(big, random_boxes(77, rng, 2000.f, 600.f));
}

TEST_CASE("cuda detection: IoU of degenerate boxes (zero area, identical, touching, nested)") {
  const Tensor a = Tensor::from_vector<float>({0, 0, 10, 10,   // a square
                                               0, 0, 10, 10,   // the same
                                               10, 0, 20, 10,  // touching it: intersection 0
                                               2, 2, 4, 4,     // inside it
                                               5, 5, 5, 5,     // a point
                                               0, 3, 10, 3,    // a segment (zero height)
                                               -5, -5, 0, 0},  // touching at a corner
                                              Shape{7, 4});
  check_overlaps(a, a);
  const Tensor points = Tensor::zeros({9, 4});  // all zero area: every overlap is 0 / eps = 0
  check_overlaps(points, a);
  check_overlaps(points, points);
  CHECK(mismatches(box_iou(a.to(kGpu), a.to(kGpu)), box_iou(a, a)) == 0);
  CHECK(mismatches(box_iof(a.to(kGpu), points.to(kGpu)), box_iof(a, points)) == 0);
}

TEST_CASE("cuda detection: encode_box_deltas against the CPU") {
  std::mt19937 rng(103);
  BoxCoderParams mmdet;  // the two-stage detectors' values: exercises the mean and std
  mmdet.means = {0.01f, -0.02f, 0.03f, 0.f};
  mmdet.stds = {0.1f, 0.1f, 0.2f, 0.2f};
  for (const std::int64_t n : {0, 1, 7, 255, 257, 1000, 100003}) {
    for (const BoxCoderParams& params : {BoxCoderParams{}, mmdet}) {
      CAPTURE(n);
      const Tensor anchors = random_proper_boxes(n, rng), boxes = random_proper_boxes(n, rng);
      const Tensor want = encode_box_deltas(anchors, boxes, params);
      const Tensor got = encode_box_deltas(anchors.to(kGpu), boxes.to(kGpu), params);
      REQUIRE(got.device() == kGpu);
      REQUIRE(got.shape() == Shape{n, 4});
      CHECK(normalised_error(got, want) <= kCoderTol);
      // dx, dy involve no transcendental function: exact.
      for (const int k : {0, 1}) CHECK(mismatches(column(got, k), column(want, k)) == 0);
    }
  }
  // Boxes of their anchor's size, shifted (integer coordinates: gw / pw = 1 exactly and log(1) = 0
  // on both sides), so that every column is exact.
  std::uniform_int_distribution<int> corner(-50, 800), side(1, 300), shift(-20, 20);
  std::vector<float> a, b;
  for (int i = 0; i < 300; ++i) {
    const auto x = static_cast<float>(corner(rng)), y = static_cast<float>(corner(rng));
    const auto w = static_cast<float>(side(rng)), h = static_cast<float>(side(rng));
    const auto dx = static_cast<float>(shift(rng)), dy = static_cast<float>(shift(rng));
    a.insert(a.end(), {x, y, x + w, y + h});
    b.insert(b.end(), {x + dx, y + dy, x + dx + w, y + dy + h});
  }
  const Tensor anchors = Tensor::from_vector(a, Shape{300, 4}), boxes = Tensor::from_vector(b, Shape{300, 4});
  CHECK(mismatches(encode_box_deltas(anchors.to(kGpu), boxes.to(kGpu)), encode_box_deltas(anchors, boxes)) == 0);
}

TEST_CASE("cuda detection: encode_box_deltas of degenerate boxes gives the CPU's infinities and NaNs") {
  const Tensor anchors = Tensor::from_vector<float>({0, 0, 10, 10,  // fine
                                                     5, 5, 5, 5,    // zero size: dx = +-inf or NaN
                                                     0, 0, 0, 10},  // zero width
                                                    Shape{3, 4});
  const Tensor boxes = Tensor::from_vector<float>({2, 2, 2, 8,   // zero width: dw = -inf
                                                   1, 1, 9, 9,   // over a zero-size anchor: dx NaN, dw = +inf
                                                   0, 0, 0, 4},  // zero width over zero width: dw NaN
                                                  Shape{3, 4});
  // normalised_error requires the non-finite values to be equal (NaN for NaN, the same infinity).
  CHECK(normalised_error(encode_box_deltas(anchors.to(kGpu), boxes.to(kGpu)), encode_box_deltas(anchors, boxes)) <=
        kCoderTol);
}

TEST_CASE("cuda detection: decode_box_deltas against the CPU, with and without clipping") {
  std::mt19937 rng(107);
  std::normal_distribution<float> normal(0.f, 1.5f);
  BoxCoderParams mmdet;
  mmdet.means = {0.01f, -0.02f, 0.03f, 0.f};
  mmdet.stds = {0.1f, 0.1f, 0.2f, 0.2f};
  const std::vector<std::optional<ImageSize>> clips = {std::nullopt, ImageSize{600, 1000}};
  for (const std::int64_t n : {0, 1, 7, 255, 257, 1000, 100003}) {
    CAPTURE(n);
    const Tensor anchors = random_proper_boxes(n, rng);
    std::vector<float> d(static_cast<std::size_t>(4 * n));  // some beyond the clamp bound
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = i % 29 == 2 ? 12.f * normal(rng) : normal(rng);
    const Tensor deltas = Tensor::from_vector(d, Shape{n, 4});
    const Tensor ag = anchors.to(kGpu), dg = deltas.to(kGpu);
    for (const BoxCoderParams& params : {BoxCoderParams{}, mmdet}) {
      for (const std::optional<ImageSize>& clip : clips) {
        INFO("clip " << (clip ? "600x1000" : "none"));
        const Tensor want = decode_box_deltas(anchors, deltas, clip, params);
        const Tensor got = decode_box_deltas(ag, dg, clip, params);
        REQUIRE(got.device() == kGpu);
        REQUIRE(got.shape() == Shape{n, 4});
        CHECK(normalised_error(got, want) <= kCoderTol);
      }
    }
    // dw = dh = 0: expf(0) = 1 on both sides, everything else is + - * in the same order: exact.
    for (std::size_t i = 0; i < d.size(); i += 4) d[i + 2] = d[i + 3] = 0.f;
    const Tensor flat = Tensor::from_vector(d, Shape{n, 4});
    for (const std::optional<ImageSize>& clip : clips)
      CHECK(mismatches(decode_box_deltas(ag, flat.to(kGpu), clip), decode_box_deltas(anchors, flat, clip)) == 0);
  }
  // A zero-size anchor decodes to a zero-size box at its centre; a clip size of 0 x 0.
  const Tensor point = Tensor::from_vector<float>({3, 4, 3, 4, 0, 0, 8, 8}, Shape{2, 4});
  const Tensor deltas = Tensor::from_vector<float>({1.5f, -2.f, 3.f, 1.f, 0.5f, 0.5f, 9.f, -9.f}, Shape{2, 4});
  CHECK(normalised_error(decode_box_deltas(point.to(kGpu), deltas.to(kGpu)), decode_box_deltas(point, deltas)) <=
        kCoderTol);
  CHECK(mismatches(decode_box_deltas(point.to(kGpu), deltas.to(kGpu), ImageSize{0, 0}),
                   decode_box_deltas(point, deltas, ImageSize{0, 0})) == 0);
}

TEST_CASE("cuda detection: nms and batched_nms keep the CPU's indices on random sets") {
  std::mt19937 rng(109);
  // Around the 64-box mask word (63, 64, 65, 127, 128, 129) and more mask blocks than scan threads
  // (20000 boxes: 313 blocks > 256).
  for (const std::int64_t n : {1, 2, 63, 64, 65, 127, 128, 129, 1000, 5000, 20000}) {
    for (const int classes : {1, 3, 80}) {
      CAPTURE(n);
      CAPTURE(classes);
      const Detections d = random_detections(n, classes, rng);
      for (const float thr : {0.3f, 0.5f, 0.7f}) check_nms(d.boxes, d.scores, d.classes, thr);
    }
  }
  // Thresholds at the ends: 0 (any overlap suppresses) and 1 (nothing does: IoU <= 1).
  const Detections d = random_detections(700, 4, rng);
  for (const float thr : {0.f, 1.f, -1.f}) check_nms(d.boxes, d.scores, d.classes, thr);
}

TEST_CASE("cuda detection: nms on score ties, all suppressed, none suppressed, signed zeros") {
  // The CPU suite's hand case: ties, an IoU of exactly 0.5, zero-size boxes (0 / 0 suppresses nothing).
  const Tensor boxes = Tensor::from_vector<float>({0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 5, 3, 3, 3, 3, 3, 3, 3, 3},
                                                  Shape{5, 4});
  const Tensor scores = Tensor::from_vector<float>({0.9f, 0.9f, 0.8f, 0.95f, 0.95f}, Shape{5});
  const Tensor classes = Tensor::from_vector<std::int64_t>({0, 1, 0, 2, 2}, Shape{5});
  CHECK(indices_of(nms(boxes.to(kGpu), scores.to(kGpu), 0.5f)) == Indices{3, 4, 0, 2});
  CHECK(indices_of(nms(boxes.to(kGpu), scores.to(kGpu), 0.49f)) == Indices{3, 4, 0});
  CHECK(indices_of(batched_nms(boxes.to(kGpu), scores.to(kGpu), classes.to(kGpu), 0.5f)) == Indices{3, 4, 0, 1, 2});
  for (const float thr : {0.49f, 0.5f}) check_nms(boxes, scores, classes, thr);

  // All suppressed: one box repeated, with distinct scores, then with one tied score.
  const std::int64_t n = 300;
  std::vector<float> same, distinct, tied(static_cast<std::size_t>(n), 0.25f);
  for (std::int64_t i = 0; i < n; ++i) {
    same.insert(same.end(), {10, 20, 50, 70});
    distinct.push_back(static_cast<float>((i * 37) % n) / n);
  }
  const Tensor one_box = Tensor::from_vector(same, Shape{n, 4});
  const Tensor zero_classes = Tensor::zeros({n}, DType::I64);
  const Tensor s_distinct = Tensor::from_vector(distinct, Shape{n}), s_tied = Tensor::from_vector(tied, Shape{n});
  CHECK(indices_of(nms(one_box.to(kGpu), s_tied.to(kGpu), 0.5f)) == Indices{0});
  check_nms(one_box, s_distinct, zero_classes, 0.5f);
  check_nms(one_box, s_tied, zero_classes, 0.5f);

  // None suppressed: a grid of disjoint boxes; every box comes back, in score order.
  std::vector<float> grid;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto x = static_cast<float>(20 * (i % 20)), y = static_cast<float>(20 * (i / 20));
    grid.insert(grid.end(), {x, y, x + 10, y + 10});
  }
  const Tensor disjoint = Tensor::from_vector(grid, Shape{n, 4});
  CHECK(indices_of(nms(disjoint.to(kGpu), s_distinct.to(kGpu), 0.1f)).size() == static_cast<std::size_t>(n));
  check_nms(disjoint, s_distinct, zero_classes, 0.1f);
  check_nms(disjoint, s_tied, zero_classes, 0.1f);

  // -0 and +0 are equal scores (ties, index order), below every positive and above every negative.
  const float nz = -0.f;
  const Tensor signed_scores = Tensor::from_vector<float>({0.f, nz, -1e-30f, nz, 0.f, 1e-30f}, Shape{6});
  const Tensor six = Tensor::from_vector(std::vector<float>(grid.begin(), grid.begin() + 24), Shape{6, 4});
  CHECK(indices_of(nms(six.to(kGpu), signed_scores.to(kGpu), 0.5f)) == Indices{5, 0, 1, 3, 4, 2});
  check_nms(six, signed_scores, Tensor::zeros({6}, DType::I64), 0.5f);
}

TEST_CASE("cuda detection: empty input, a single box, NaN scores, mixed devices") {
  const Tensor none = nms(Tensor::zeros({0, 4}).to(kGpu), Tensor::zeros({0}).to(kGpu), 0.5f);
  CHECK(none.device() == kGpu);
  CHECK(none.shape() == Shape{0});
  CHECK(none.dtype() == DType::I64);
  const Tensor none_batched = batched_nms(Tensor::zeros({0, 4}).to(kGpu), Tensor::zeros({0}).to(kGpu),
                                          Tensor::zeros({0}, DType::I32).to(kGpu), 0.5f);
  CHECK(none_batched.shape() == Shape{0});
  CHECK(none_batched.device() == kGpu);

  const Tensor one = Tensor::from_vector<float>({1, 2, 3, 4}, Shape{1, 4}).to(kGpu);
  CHECK(indices_of(nms(one, Tensor::from_vector<float>({-3.f}, Shape{1}).to(kGpu), 0.5f)) == Indices{0});

  const Tensor boxes = Tensor::zeros({3, 4}).to(kGpu);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor nan_scores = Tensor::from_vector<float>({0.1f, nan, nan}, Shape{3}).to(kGpu);
  CHECK_THROWS_WITH_AS(nms(boxes, nan_scores, 0.5f), doctest::Contains("nms: scores[1] is NaN"), Error);
  CHECK_THROWS_WITH_AS(batched_nms(boxes, nan_scores, Tensor::zeros({3}, DType::I64).to(kGpu), 0.5f),
                       doctest::Contains("batched_nms: scores[1] is NaN"), Error);
  // The device is usable after the error (it was reported, not a fault).
  CHECK(indices_of(nms(boxes, Tensor::zeros({3}).to(kGpu), 0.5f)) == Indices{0, 1, 2});

  CHECK_THROWS_WITH_AS(nms(boxes, Tensor::zeros({3}), 0.5f), doctest::Contains("every input must be on one device"),
                       Error);
  CHECK_THROWS_WITH_AS(nms(boxes, Tensor::zeros({2}).to(kGpu), 0.5f),
                       doctest::Contains("nms: scores [2] must be [N] for boxes [3, 4]"), Error);
  CHECK_THROWS_WITH_AS(box_iou(boxes, Tensor::zeros({2, 4})), doctest::Contains("every input must be on one device"),
                       Error);
  CHECK_THROWS_WITH_AS(encode_box_deltas(boxes, Tensor::zeros({2, 4}).to(kGpu)),
                       doctest::Contains("encode_box_deltas: anchors [3, 4] and boxes [2, 4]"), Error);
}

TEST_CASE("cuda detection: the same results on every run") {
  std::mt19937 rng(113);
  const Detections d = random_detections(5000, 80, rng);
  const Tensor bg = d.boxes.to(kGpu), sg = d.scores.to(kGpu), cg = d.classes.to(kGpu);
  const Indices first = indices_of(nms(bg, sg, 0.5f)), first_batched = indices_of(batched_nms(bg, sg, cg, 0.5f));
  const Tensor iou = box_iou(bg, bg).to(Device::cpu());
  for (int i = 0; i < 3; ++i) {
    CHECK(indices_of(nms(bg, sg, 0.5f)) == first);
    CHECK(indices_of(batched_nms(bg, sg, cg, 0.5f)) == first_batched);
    CHECK(mismatches(box_iou(bg, bg), iou) == 0);
  }
}

TEST_CASE("cuda postprocess: head outputs on the GPU give exactly the CPU's detections") {
  // Logits pre-filtered on the device, candidates finished on the host: the same detections bit for
  // bit, for several levels and images, sizes whose level holds more than one tile of the
  // compaction kernel, scores saturated at 1 (ties broken by index), empty results and a top-k cut.
  Generator gen(77);
  const std::int64_t k = 7;
  auto [cls, box, anchors] = testing::random_head_outputs(
      {.images = 3, .classes = k, .anchors_per_location = 3,
       .level_sizes = {{40, 52}, {20, 26}, {10, 13}, {5, 7}, {1, 1}}, .logit_mean = -3.0f, .logit_std = 2.5f,
       .span_x = 400, .span_y = 300, .max_side = 90},
      gen);
  for (Tensor& c : cls) {
    float* v = c.data<float>();
    for (std::int64_t i = 0; i < c.numel(); i += 97) v[i] = 30.0f;  // sigmoid = 1.0f exactly: ties
  }
  std::vector<Tensor> cls_gpu, box_gpu;
  for (std::size_t l = 0; l < cls.size(); ++l) {
    cls_gpu.push_back(cls[l].to(kGpu));
    box_gpu.push_back(box[l].to(kGpu));
  }
  const std::vector<ImageSize> input = {{320, 416}, {300, 400}, {280, 390}};
  const std::vector<double> scale = {0.5, 0.8, 1.25};
  for (float thresh : {0.05f, 0.5f, 0.99999f}) {
    for (std::int64_t topk : {std::int64_t{1000}, std::int64_t{25}}) {
      CAPTURE(thresh);
      CAPTURE(topk);
      PostprocessConfig c;
      c.score_thresh = thresh;
      c.topk_per_level = topk;
      const auto want = postprocess(cls, box, anchors, k, input, scale, c);
      const auto got = postprocess(cls_gpu, box_gpu, anchors, k, input, scale, c);
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i].boxes.device() == Device::cpu());
        CHECK(got[i].scores.to_vector<float>() == want[i].scores.to_vector<float>());
        CHECK(got[i].labels.to_vector<std::int64_t>() == want[i].labels.to_vector<std::int64_t>());
        CHECK(got[i].boxes.to_vector<float>() == want[i].boxes.to_vector<float>());
      }
    }
  }
  CHECK_THROWS_WITH_AS(postprocess({cls_gpu[0]}, {box[0]}, {anchors[0]}, k, input, scale, {}),
                       doctest::Contains("must be on"), Error);
}

TEST_CASE("cuda roi pooler: multi-level RoIAlign on the GPU gives the CPU's values and gradients bit for bit") {
  const testing::DetectionFixture f("roi_pooler");
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const auto run = [&](const Device& device) {
      std::vector<Tensor> maps;
      for (int l = 0; l < 4; ++l) {
        maps.push_back(f.get(i, "map" + std::to_string(l)).to(device));
        maps.back().set_requires_grad(true);
      }
      const Tensor y = multi_scale_roi_align(maps, f.get(i, "boxes").to(device), 160, 160, RoiPoolerConfig{});
      y.backward(f.get(i, "grad_output").to(device));
      std::vector<std::vector<float>> out = {y.to(Device::cpu()).to_vector<float>()};
      for (const Tensor& m : maps)
        out.push_back(m.grad().defined() ? m.grad().to(Device::cpu()).to_vector<float>() : std::vector<float>{});
      return out;
    };
    CHECK(run(kGpu) == run(Device::cpu()));
  }
}
