// Fusion of one image's detections from several views (see box_fusion.h).
#include "detection/box_fusion.h"

#include <algorithm>
#include <array>
#include <map>
#include <numeric>

#include "core/check.h"

namespace ghm::detection {
namespace {

struct Candidate {
  std::array<float, 4> box;  // x1, y1, x2, y2
  float score;
  std::size_t view;
  std::int64_t rank;  // in its view's list
};

// NMS's IoU (nms.h): no eps, so a zero-area box gives NaN, which is >= nothing.
float iou_of(const std::array<float, 4>& a, const std::array<float, 4>& b) {
  const float iw = std::max(0.0f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float ih = std::max(0.0f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float inter = iw * ih;
  const float area_a = (a[2] - a[0]) * (a[3] - a[1]);
  const float area_b = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / (area_a + area_b - inter);
}

struct Fused {
  std::array<float, 4> box;
  float score;
  std::int64_t label;
  std::size_t view;   // of the detection that claimed the others
  std::int64_t rank;
};

// The objects of one class: candidates score-descending (stable: view, then rank within the view).
void fuse_class(std::vector<Candidate>& cands, std::int64_t label, std::size_t num_views, float iou,
                std::vector<Fused>& out) {
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<bool> claimed(cands.size(), false);
  std::vector<float> best(num_views);
  for (std::size_t s = 0; s < cands.size(); ++s) {
    if (claimed[s]) continue;
    std::fill(best.begin(), best.end(), 0.0f);
    std::array<double, 4> weighted{};
    double weight = 0;
    for (std::size_t d = s; d < cands.size(); ++d) {
      if (claimed[d] || (d != s && !(iou_of(cands[s].box, cands[d].box) >= iou))) continue;
      claimed[d] = true;
      const Candidate& c = cands[d];
      best[c.view] = std::max(best[c.view], c.score);
      for (std::size_t k = 0; k < 4; ++k) weighted[k] += static_cast<double>(c.score) * c.box[k];
      weight += c.score;
    }
    Fused f;
    f.label = label;
    f.view = cands[s].view;
    f.rank = cands[s].rank;
    f.score = static_cast<float>(std::accumulate(best.begin(), best.end(), 0.0) / static_cast<double>(num_views));
    for (std::size_t k = 0; k < 4; ++k)
      f.box[k] = weight > 0 ? static_cast<float>(weighted[k] / weight) : cands[s].box[k];
    out.push_back(f);
  }
}

}  // namespace

ImageDetections fuse_views(const std::vector<ImageDetections>& views, float iou, std::int64_t max_detections) {
  GHM_CHECK(!views.empty(), "fuse_views: no view");
  GHM_CHECK(iou > 0 && iou <= 1, "fuse_views: iou ", iou, " is not in (0, 1]");
  GHM_CHECK(max_detections >= 1, "fuse_views: max_detections ", max_detections, " must be at least 1");
  std::map<std::int64_t, std::vector<Candidate>> by_class;  // label -> candidates, in view then rank order
  for (std::size_t v = 0; v < views.size(); ++v) {
    const ImageDetections& d = views[v];
    const std::int64_t n = d.scores.numel();
    GHM_CHECK(d.boxes.numel() == 4 * n && d.labels.numel() == n, "fuse_views: view ", v, " has ", n, " scores, ",
              d.boxes.numel() / 4, " boxes and ", d.labels.numel(), " labels");
    const float* box = d.boxes.data<float>();  // [n, 4]
    for (std::int64_t j = 0; j < n; ++j)
      by_class[d.labels.data<std::int64_t>()[j]].push_back(
          {{box[4 * j], box[4 * j + 1], box[4 * j + 2], box[4 * j + 3]}, d.scores.data<float>()[j], v, j});
  }
  std::vector<Fused> fused;
  for (auto& [label, cands] : by_class) fuse_class(cands, label, views.size(), iou, fused);
  std::sort(fused.begin(), fused.end(), [](const Fused& a, const Fused& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.view != b.view ? a.view < b.view : a.rank < b.rank;
  });
  const auto n = static_cast<std::int64_t>(std::min<std::size_t>(fused.size(), static_cast<std::size_t>(max_detections)));

  ImageDetections out;
  out.boxes = Tensor::zeros({n, 4});
  out.scores = Tensor::zeros({n});
  out.labels = Tensor::zeros({n}, DType::I64);
  float* box = out.boxes.data<float>();
  for (std::int64_t j = 0; j < n; ++j) {
    const Fused& f = fused[static_cast<std::size_t>(j)];
    std::copy(f.box.begin(), f.box.end(), box + 4 * j);
    out.scores.data<float>()[j] = f.score;
    out.labels.data<std::int64_t>()[j] = f.label;
  }
  return out;
}

}  // namespace ghm::detection
