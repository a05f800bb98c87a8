// The COCO bounding-box evaluator: pycocotools' COCOeval (evaluateImg, accumulate, summarize)
// restated over flat arrays. eval.h lists the semantics; this file keeps pycocotools'
// operations and their order wherever a floating-point result depends on them.
//
// Letters: I images, K categories, T = 10 IoU thresholds, R = 101 recall thresholds,
// A = 4 area ranges, M = 3 maxDets; D detections and G ground-truth boxes of one group
// (one image and one category).
//
// Pass 1, per image (parallel): sort the image's detections by (category, descending score) and
// its ground truth by category, both stably, so that each group is a run in file order as
// pycocotools builds it; keep each group's top 100 detections; compute the group's [D, G] IoU
// once; then per area range sort the ground truth with the ignored last and match greedily at
// each IoU threshold. The result per detection is an Outcome (two bit masks per area range),
// written into the slots of that image (its range in the image-sorted order), and per group the
// number of ground-truth boxes that count.
//
// Pass 2, per category (parallel): concatenate its groups' detections in image order, sort
// stably by descending score (numpy's mergesort), and for every (area range, maxDets, threshold)
// sweep the cumulative true/false positives into recall and precision as accumulate() does.
// maxDets 1 and 10 take the same sorted list filtered by a detection's rank in its group: a
// stable sort keeps the relative order of any subset.
#include "coco/eval.h"

#include <algorithm>
#include <cstdio>

#include "core/check.h"
#include "core/cpu/parallel.h"

namespace ghm::coco {

// np.linspace(.5, .95, 10) as numpy computes it (i * step + start): 0.9 comes out one ulp below
// the double nearest to 0.9.
const std::array<double, kNumIouThresholds> kIouThresholdValues = {0.5, 0.55, 0.6,  0.65, 0.7,
                                                                        0.75, 0.8, 0.85, 0.8999999999999999, 0.95};
const std::array<int, kNumMaxDets> kMaxDetsValues = {1, 10, 100};

namespace {

constexpr int T = kNumIouThresholds, R = kNumRecallThresholds, A = kNumAreaRanges, M = kNumMaxDets;
constexpr int kMaxDets = 100;
// pycocotools' areaRng, [low, high] inclusive: all, small, medium, large. 1e5 ** 2 == 1e10 exactly.
constexpr double kAreaRange[A][2] = {{0.0, 1e10}, {0.0, 32.0 * 32.0}, {32.0 * 32.0, 96.0 * 96.0}, {96.0 * 96.0, 1e10}};
constexpr double kSpacingOfOne = 2.220446049250313e-16;  // np.spacing(1), added to precision's denominator

// np.linspace(0, 1, 101): r * 0.01 (+ 0.0, which changes nothing).
double recall_threshold(int r) { return r * 0.01; }

// One evaluated detection. Bit t of tp[a] (fp[a]) is set when the detection is a true (false)
// positive at IoU threshold t in area range a; with neither bit set it is ignored there.
struct Outcome {
  double score = 0;
  std::uint16_t tp[A] = {};
  std::uint16_t fp[A] = {};
};

// One (image, category) group: its detections are outcomes[first, first + count), in descending
// score order (count <= 100); counted[a] is the number of its ground-truth boxes not ignored in
// area range a.
struct Group {
  std::int32_t category = 0;
  std::int32_t count = 0;
  std::int64_t first = 0;
  std::int32_t counted[A] = {};
};

// maskApi.c's bbIou, operation for operation, into iou [D, G]. GCC contracts a * b + c into a
// fused multiply-add by default (even under -std=c++20), which rounds once instead of twice; an
// IoU exactly at a threshold (common with integer boxes) could then fall on the other side of
// it, so contraction is off here. Clang fuses only within one expression, and each product here
// is a statement of its own. std::min/max stand for fmin/fmax: they differ only for NaN (never
// loaded) and in the sign of a zero, which either makes the overlap <= 0 or is subtracted away.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
void box_iou(const Xywh* dt, int D, const Xywh* gt, const std::uint8_t* crowd, int G, double* iou) {
  for (int g = 0; g < G; ++g) {
    const Xywh& b = gt[g];
    const double gt_area = b.w * b.h;
    for (int d = 0; d < D; ++d) {
      const Xywh& a = dt[d];
      const double dt_area = a.w * a.h;
      double& out = iou[d * G + g];
      out = 0.0;
      const double w = std::min(a.w + a.x, b.w + b.x) - std::max(a.x, b.x);
      if (w <= 0.0) continue;
      const double h = std::min(a.h + a.y, b.h + b.y) - std::max(a.y, b.y);
      if (h <= 0.0) continue;
      const double inter = w * h;
      const double uni = crowd[g] ? dt_area : dt_area + gt_area - inter;
      out = inter / uni;
    }
  }
}

// Per-thread buffers for pass 1, resized per group (their capacity grows to the largest).
struct GroupScratch {
  std::vector<std::int32_t> dets, gts;  // the image's detection / annotation indices, sorted
  std::vector<Xywh> dt_box, gt_box;  // [D], [G]
  std::vector<double> dt_area, iou;     // [D], [D, G]
  std::vector<std::uint8_t> crowd;      // [G]
  // Per area range: the ground truth in evaluation order (not ignored first) and its flags.
  std::vector<std::int32_t> order;
  std::vector<std::uint8_t> ignored, crowd_sorted, nonzero_id, matched, dt_outside;
};

// evaluateImg for one group and every area range: fills out[0, D) and group.counted.
void evaluate_group(GroupScratch& s, const std::vector<Annotation>& anns, const std::int32_t* gts, int D, int G,
                    Outcome* out, Group& group) {
  if (D > 0 && G > 0) box_iou(s.dt_box.data(), D, s.gt_box.data(), s.crowd.data(), G, s.iou.data());
  for (int a = 0; a < A; ++a) {
    const double low = kAreaRange[a][0], high = kAreaRange[a][1];
    const auto outside = [&](double area) { return area < low || area > high; };
    s.order.clear();
    for (int pass = 0; pass < 2; ++pass)  // np.argsort(ignore, kind='mergesort'): stable
      for (int g = 0; g < G; ++g) {
        const Annotation& ann = anns[gts[g]];
        if ((ann.crowd || outside(ann.area)) == (pass == 1)) s.order.push_back(g);
      }
    int counted = 0;
    for (int i = 0; i < G; ++i) {
      const Annotation& ann = anns[gts[s.order[i]]];
      s.ignored[i] = ann.crowd || outside(ann.area);
      s.crowd_sorted[i] = ann.crowd;
      s.nonzero_id[i] = ann.id != 0;
      counted += !s.ignored[i];
    }
    group.counted[a] = counted;
    for (int d = 0; d < D; ++d) {
      s.dt_outside[d] = outside(s.dt_area[d]);
      out[d].tp[a] = out[d].fp[a] = 0;
    }
    for (int t = 0; t < T; ++t) {
      std::fill_n(s.matched.begin(), G, std::uint8_t{0});
      const double threshold = std::min(kIouThresholdValues[t], 1.0 - 1e-10);
      const auto bit = static_cast<std::uint16_t>(1u << t);
      for (int d = 0; d < D; ++d) {
        const double* row = s.iou.data() + d * G;
        double best = threshold;
        int m = -1;
        for (int i = 0; i < G; ++i) {
          if (s.matched[i] && !s.crowd_sorted[i]) continue;  // taken, and not a crowd
          if (m > -1 && !s.ignored[m] && s.ignored[i]) break;  // holds a real box; only ignored ones left
          const double v = row[s.order[i]];
          if (v < best) continue;
          best = v;
          m = i;
        }
        bool hit = false, ignored = false;  // hit: dtMatches != 0
        if (m > -1) {
          s.matched[m] = 1;
          ignored = s.ignored[m];
          hit = s.nonzero_id[m];
        }
        if (!hit && s.dt_outside[d]) ignored = true;
        if (!ignored) (hit ? out[d].tp[a] : out[d].fp[a]) |= bit;
      }
    }
  }
}

// Pass 1 for one image, whose detection and annotation indices are in s.dets and s.gts: writes
// its groups to groups[0, n) and returns n; its detections' outcomes go to outcomes[0, ...).
int evaluate_image(GroupScratch& s, const GroundTruth& gt, const Detections& dt, Outcome* outcomes,
                   std::int64_t first_outcome, Group* groups) {
  const std::vector<Detection>& dets = dt.detections;
  const std::vector<Annotation>& anns = gt.annotations;
  std::stable_sort(s.dets.begin(), s.dets.end(), [&](std::int32_t i, std::int32_t j) {
    const Detection &a = dets[i], &b = dets[j];
    return a.category != b.category ? a.category < b.category : a.score > b.score;
  });
  std::stable_sort(s.gts.begin(), s.gts.end(),
                   [&](std::int32_t i, std::int32_t j) { return anns[i].category < anns[j].category; });
  const std::size_t n_dets = s.dets.size(), n_gts = s.gts.size();
  const auto det_category = [&](std::size_t p) { return p < n_dets ? dets[s.dets[p]].category : INT32_MAX; };
  const auto gt_category = [&](std::size_t q) { return q < n_gts ? anns[s.gts[q]].category : INT32_MAX; };
  int n_groups = 0;
  std::int64_t n_outcomes = 0;
  for (std::size_t p = 0, q = 0; p < n_dets || q < n_gts;) {
    const std::int32_t c = std::min(det_category(p), gt_category(q));
    std::size_t p_end = p, q_end = q;
    while (det_category(p_end) == c) ++p_end;
    while (gt_category(q_end) == c) ++q_end;
    const int D = static_cast<int>(std::min<std::size_t>(p_end - p, kMaxDets));
    const int G = static_cast<int>(q_end - q);
    Outcome* out = outcomes + n_outcomes;
    s.dt_box.resize(D);
    s.dt_area.resize(D);
    s.dt_outside.resize(D);
    for (int d = 0; d < D; ++d) {
      const Detection& det = dets[s.dets[p + d]];
      s.dt_box[d] = det.box;
      s.dt_area[d] = det.box.w * det.box.h;  // loadRes: bb[2] * bb[3]
      out[d].score = det.score;
    }
    s.gt_box.resize(G);
    s.crowd.resize(G);
    for (int g = 0; g < G; ++g) {
      s.gt_box[g] = anns[s.gts[q + g]].box;
      s.crowd[g] = anns[s.gts[q + g]].crowd;
    }
    for (auto* v : {&s.ignored, &s.crowd_sorted, &s.nonzero_id, &s.matched}) v->resize(G);
    s.iou.resize(static_cast<std::size_t>(D) * G);

    Group& group = groups[n_groups++];
    group.category = c;
    group.count = D;
    group.first = first_outcome + n_outcomes;
    evaluate_group(s, anns, s.gts.data() + q, D, G, out, group);
    n_outcomes += D;
    p = p_end;
    q = q_end;
  }
  return n_groups;
}

// Stable counting sort of item indices by image: order[offset[i], offset[i + 1]) are image i's.
template <class Item>
void bucket_by_image(const std::vector<Item>& items, std::size_t images, std::vector<std::int64_t>& offset,
                     std::vector<std::int32_t>& order) {
  offset.assign(images + 1, 0);
  for (const Item& it : items) ++offset[it.image + 1];
  for (std::size_t i = 0; i < images; ++i) offset[i + 1] += offset[i];
  std::vector<std::int64_t> cursor(offset.begin(), offset.end() - 1);
  order.resize(items.size());
  for (std::size_t k = 0; k < items.size(); ++k) order[cursor[items[k].image]++] = static_cast<std::int32_t>(k);
}

// Flat indices into EvalResult::precision [T, R, K, A, M] and recall [T, K, A, M].
std::size_t precision_at(int t, int r, int k, int K, int a, int m) {
  return static_cast<std::size_t>((((t * R + r) * K + k) * A + a) * M + m);
}
std::size_t recall_at(int t, int k, int K, int a, int m) { return static_cast<std::size_t>(((t * K + k) * A + a) * M + m); }

// One detection of a category in pass 2: its score, outcome and rank within its group.
struct Ranked {
  double score;
  std::int64_t outcome;
  std::int32_t rank;
};

// Per-thread buffers for pass 2.
struct AccumulateScratch {
  std::vector<Ranked> dets;               // [n], then in descending score order
  std::vector<std::int32_t> rank;         // [n] in that order
  std::vector<std::uint16_t> tp[A], fp[A];  // [n] in that order: the outcome's masks
  std::vector<double> recall, precision;  // at the true positives of one (area, maxDets, threshold)
};

// accumulate() for category k: writes precision[:, :, k, :, :] and recall[:, k, :, :].
//
// pycocotools builds rc = tp / npig and pr = tp / (fp + tp + eps) at every evaluated detection,
// makes pr non-increasing from the right, and samples it at the first index whose rc reaches
// each recall threshold. Only the true positives matter: rc changes only there, so that first
// index is a true positive (or the first detection, for threshold 0); and after a false
// positive or an ignored detection pr is at most its value at the detection before (same or
// larger denominator; 0 before the first true positive), so the maximum to the right of a true
// positive is the maximum over the true positives from it on. So we record (rc, pr) at the true
// positives only, computed with the same operations, and the sampled values are pycocotools'.
void accumulate_category(AccumulateScratch& s, const std::vector<Outcome>& outcomes, const std::vector<Group>& groups,
                         const std::int64_t* group_ids, std::int64_t n_group_ids, int k, int K, EvalResult& out) {
  s.dets.clear();
  std::int64_t counted[A] = {};
  for (std::int64_t i = 0; i < n_group_ids; ++i) {
    const Group& g = groups[group_ids[i]];
    for (int a = 0; a < A; ++a) counted[a] += g.counted[a];
    for (std::int32_t r = 0; r < g.count; ++r) s.dets.push_back({outcomes[g.first + r].score, g.first + r, r});
  }
  // np.argsort(-scores, kind='mergesort')
  std::stable_sort(s.dets.begin(), s.dets.end(), [](const Ranked& x, const Ranked& y) { return x.score > y.score; });
  const std::size_t n = s.dets.size();
  s.rank.resize(n);
  for (int a = 0; a < A; ++a) {
    s.tp[a].resize(n);
    s.fp[a].resize(n);
  }
  for (std::size_t j = 0; j < n; ++j) {
    const Outcome& o = outcomes[s.dets[j].outcome];
    s.rank[j] = s.dets[j].rank;
    for (int a = 0; a < A; ++a) {
      s.tp[a][j] = o.tp[a];
      s.fp[a][j] = o.fp[a];
    }
  }
  for (int a = 0; a < A; ++a) {
    if (counted[a] == 0) continue;  // npig == 0: stays -1
    const auto npig = static_cast<double>(counted[a]);
    const std::uint16_t* tp_mask = s.tp[a].data();
    const std::uint16_t* fp_mask = s.fp[a].data();
    for (int m = 0; m < M; ++m) {
      const int max_dets = kMaxDetsValues[m];
      for (int t = 0; t < T; ++t) {
        double tp = 0, fp = 0;
        s.recall.clear();
        s.precision.clear();
        for (std::size_t j = 0; j < n; ++j) {
          if (s.rank[j] >= max_dets) continue;
          if ((tp_mask[j] >> t) & 1u) {
            tp += 1;
            s.recall.push_back(tp / npig);
            s.precision.push_back(tp / (fp + tp + kSpacingOfOne));
          } else {
            fp += (fp_mask[j] >> t) & 1u;
          }
        }
        out.recall[recall_at(t, k, K, a, m)] = tp / npig;  // rc[-1], or 0
        const std::size_t n_tp = s.precision.size();
        for (std::size_t i = n_tp; i-- > 1;)
          if (s.precision[i] > s.precision[i - 1]) s.precision[i - 1] = s.precision[i];
        std::size_t j = 0;  // np.searchsorted(rc, recThrs, side='left'), thresholds ascending
        for (int r = 0; r < R; ++r) {
          const double threshold = recall_threshold(r);
          while (j < n_tp && s.recall[j] < threshold) ++j;
          out.precision[precision_at(t, r, k, K, a, m)] = j < n_tp ? s.precision[j] : 0.0;
        }
      }
    }
  }
}

// np.add.reduce over a contiguous float64 array, to the last bit (numpy 1.2x): the iterator
// hands the loop blocks of 8192 elements (its buffer size), each block is summed pairwise
// (8 accumulators up to 128 elements, halves above), and the blocks are added in order to 0.
double pairwise_sum(const double* a, std::size_t n) {
  if (n < 8) {
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += a[i];
    return sum;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - n % 8; i += 8)
      for (std::size_t j = 0; j < 8; ++j) r[j] += a[i + j];
    double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) sum += a[i];
    return sum;
  }
  std::size_t half = n / 2;
  half -= half % 8;
  return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

// np.mean(v): -1 for an empty v, as _summarize returns when no entry is > -1.
double numpy_mean(const std::vector<double>& v) {
  if (v.empty()) return -1.0;
  constexpr std::size_t kBlock = 8192;
  double sum = 0.0;
  for (std::size_t first = 0; first < v.size(); first += kBlock)
    sum += pairwise_sum(v.data() + first, std::min(kBlock, v.size() - first));
  return sum / static_cast<double>(v.size());
}

// summarize()'s _summarize: np.mean(s[s > -1]) over the chosen slice, whose entries numpy
// visits in C order: precision[t, r, k] (t all or one, area a, maxDets m), recall[t, k].
double summarize_slice(const EvalResult& r, int K, bool precision, int t_only, int a, int m) {
  std::vector<double> defined;
  const auto add = [&](double v) {
    if (v > -1.0) defined.push_back(v);
  };
  for (int t = 0; t < T; ++t) {
    if (t_only >= 0 && t != t_only) continue;
    if (precision) {
      for (int rr = 0; rr < R; ++rr)
        for (int k = 0; k < K; ++k) add(r.precision[precision_at(t, rr, k, K, a, m)]);
    } else {
      for (int k = 0; k < K; ++k) add(r.recall[recall_at(t, k, K, a, m)]);
    }
  }
  return numpy_mean(defined);
}

// summarize(): _summarizeDets' 12 numbers, and the per-class APs.
void summarize(EvalResult& result, int K) {
  const int all = 0, last_m = M - 1;
  const int t50 = 0, t75 = 5;  // np.where(iouThr == p.iouThrs): 0.5 and 0.75 are exact entries
  std::array<double, 12>& s = result.stats;
  s[0] = summarize_slice(result, K, true, -1, all, last_m);
  s[1] = summarize_slice(result, K, true, t50, all, last_m);
  s[2] = summarize_slice(result, K, true, t75, all, last_m);
  for (int a = 1; a < A; ++a) s[2 + a] = summarize_slice(result, K, true, -1, a, last_m);
  for (int m = 0; m < M; ++m) s[6 + m] = summarize_slice(result, K, false, -1, all, m);
  for (int a = 1; a < A; ++a) s[8 + a] = summarize_slice(result, K, false, -1, a, last_m);
  for (int t = 0; t < T; ++t) result.ap_per_iou[t] = summarize_slice(result, K, true, t, all, last_m);

  result.per_class_ap.resize(K);
  std::vector<double> defined;
  for (int k = 0; k < K; ++k) {  // np.mean(p[p > -1]) with p = precision[:, :, k, 0, 2]
    defined.clear();
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r) {
        const double v = result.precision[precision_at(t, r, k, K, all, last_m)];
        if (v > -1.0) defined.push_back(v);
      }
    result.per_class_ap[k] = numpy_mean(defined);
  }
}

}  // namespace

EvalResult evaluate_bbox(const GroundTruth& gt, const Detections& dt) {
  const std::size_t I = gt.image_ids.size();
  const int K = static_cast<int>(gt.categories.size());
  GHM_CHECK(dt.detections.size() < INT32_MAX && gt.annotations.size() < INT32_MAX,
            "evaluate_bbox: more than 2^31 - 1 boxes");
  const auto belongs = [&](std::int32_t image, std::int32_t category) {
    return image >= 0 && static_cast<std::size_t>(image) < I && category >= 0 && category < K;
  };
  for (const Detection& d : dt.detections)
    GHM_CHECK(belongs(d.image, d.category), "evaluate_bbox: ", dt.source, " was not loaded for ", gt.source);
  for (const Annotation& a : gt.annotations)
    GHM_CHECK(belongs(a.image, a.category), "evaluate_bbox: an annotation of ", gt.source,
              " refers to no image or category");

  std::vector<std::int64_t> dt_offset, gt_offset;
  std::vector<std::int32_t> dt_order, gt_order;
  bucket_by_image(dt.detections, I, dt_offset, dt_order);
  bucket_by_image(gt.annotations, I, gt_offset, gt_order);

  // Pass 1. Image i owns outcomes [dt_offset[i], dt_offset[i + 1]) and the group slots from
  // dt_offset[i] + gt_offset[i] on: at most one group per box.
  std::vector<Outcome> outcomes(dt.detections.size());
  std::vector<Group> groups(dt.detections.size() + gt.annotations.size());
  std::vector<std::int32_t> group_count(I, 0);
  const auto group_slot = [&](std::size_t i) { return dt_offset[i] + gt_offset[i]; };
  cpu::parallel_for(static_cast<std::int64_t>(I), 16, [&](std::int64_t begin, std::int64_t end) {
    GroupScratch s;
    for (auto i = static_cast<std::size_t>(begin); i < static_cast<std::size_t>(end); ++i) {
      s.dets.assign(dt_order.begin() + dt_offset[i], dt_order.begin() + dt_offset[i + 1]);
      s.gts.assign(gt_order.begin() + gt_offset[i], gt_order.begin() + gt_offset[i + 1]);
      group_count[i] = evaluate_image(s, gt, dt, outcomes.data() + dt_offset[i], dt_offset[i],
                                      groups.data() + group_slot(i));
    }
  });

  // Each category's groups, in image order: cat_groups[cat_offset[k], cat_offset[k + 1]).
  std::vector<std::int64_t> cat_offset(static_cast<std::size_t>(K) + 1, 0), cat_groups;
  for (std::size_t i = 0; i < I; ++i)
    for (std::int32_t g = 0; g < group_count[i]; ++g) ++cat_offset[groups[group_slot(i) + g].category + 1];
  for (int k = 0; k < K; ++k) cat_offset[k + 1] += cat_offset[k];
  cat_groups.resize(cat_offset.back());
  std::vector<std::int64_t> cursor(cat_offset.begin(), cat_offset.end() - 1);
  for (std::size_t i = 0; i < I; ++i)
    for (std::int32_t g = 0; g < group_count[i]; ++g) {
      const std::int64_t slot = group_slot(i) + g;
      cat_groups[cursor[groups[slot].category]++] = slot;
    }

  // Pass 2.
  EvalResult result;
  result.precision.assign(static_cast<std::size_t>(T) * R * K * A * M, -1.0);
  result.recall.assign(static_cast<std::size_t>(T) * K * A * M, -1.0);
  cpu::parallel_for(K, 1, [&](std::int64_t begin, std::int64_t end) {
    AccumulateScratch s;
    for (auto k = static_cast<int>(begin); k < static_cast<int>(end); ++k)
      accumulate_category(s, outcomes, groups, cat_groups.data() + cat_offset[k], cat_offset[k + 1] - cat_offset[k], k,
                          K, result);
  });

  summarize(result, K);
  return result;
}

std::string format_summary(const std::array<double, 12>& stats) {
  struct Line {
    bool ap;
    const char* iou;
    const char* area;
    int max_dets;
  };
  static const Line lines[12] = {
      {true, "0.50:0.95", "all", 100},   {true, "0.50", "all", 100},       {true, "0.75", "all", 100},
      {true, "0.50:0.95", "small", 100}, {true, "0.50:0.95", "medium", 100}, {true, "0.50:0.95", "large", 100},
      {false, "0.50:0.95", "all", 1},    {false, "0.50:0.95", "all", 10},   {false, "0.50:0.95", "all", 100},
      {false, "0.50:0.95", "small", 100}, {false, "0.50:0.95", "medium", 100}, {false, "0.50:0.95", "large", 100},
  };
  std::string out;
  for (std::size_t i = 0; i < 12; ++i) {
    const Line& l = lines[i];
    // ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
    char buf[160];
    std::snprintf(buf, sizeof buf, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  l.ap ? "Average Precision" : "Average Recall", l.ap ? "(AP)" : "(AR)", l.iou, l.area, l.max_dets,
                  stats[i]);
    out += buf;
  }
  return out;
}

std::string format_per_class(const GroundTruth& gt, const EvalResult& result) {
  std::string out = " Per-class Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]\n";
  int name_width = 4;
  for (const Category& c : gt.categories) name_width = std::max(name_width, static_cast<int>(c.name.size()));
  for (std::size_t k = 0; k < gt.categories.size(); ++k) {
    const Category& c = gt.categories[k];
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %8lld  ", static_cast<long long>(c.id));
    out += buf;
    out += c.name;
    out.append(static_cast<std::size_t>(name_width) - c.name.size(), ' ');
    std::snprintf(buf, sizeof buf, " = %0.3f\n", result.per_class_ap[k]);
    out += buf;
  }
  return out;
}

}  // namespace ghm::coco
