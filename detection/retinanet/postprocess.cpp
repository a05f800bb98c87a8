#include "detection/retinanet/postprocess.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/ops/elementwise_math.h"
#include "detection/nms.h"
#if GHM_WITH_CUDA
#include "detection/cuda/candidates_cuda.h"
#endif

namespace ghm::detection {
namespace {

struct Candidate {
  float score;
  std::int64_t index;  // ((y * W + x) * A + a) * K + k within the level
};

// The logits of one image and level that pass the pre-filter, as (ch * HW + p, logit) in ascending
// order: found by a scan on the CPU, or on the GPU (detection/cuda/candidates_cuda.h) for CUDA
// tensors. Either way the same float32 comparison picks them.
struct Prefiltered {
  std::vector<std::int64_t> flat;
  std::vector<float> logit;
};

// Per image, the prefiltered logits of a level [N, A*K, H, W] on the GPU (one pass over the level).
std::vector<Prefiltered> prefilter_on_device(const Tensor& cls, float threshold) {
  const std::int64_t n = cls.size(0), per_image = cls.numel() / std::max<std::int64_t>(n, 1);
  std::vector<Prefiltered> out(static_cast<std::size_t>(n));
#if GHM_WITH_CUDA
  const cuda::Candidates c = cuda::select_above(cls.device_data<float>(), cls.numel(), threshold, cls.device().index);
  for (std::size_t i = 0; i < c.index.size(); ++i) {
    Prefiltered& p = out[static_cast<std::size_t>(c.index[i] / per_image)];
    p.flat.push_back(c.index[i] % per_image);
    p.logit.push_back(c.logit[i]);
  }
#else
  (void)threshold;
  (void)per_image;
#endif
  return out;
}

void check_level(const Tensor& cls, const Tensor& box, const Tensor& anchors, std::int64_t n, std::int64_t k,
                 std::size_t l) {
  check_dtype(cls, DType::F32, "postprocess", "cls_logits");
  check_dtype(box, DType::F32, "postprocess", "box_deltas");
  check_dtype(anchors, DType::F32, "postprocess", "anchors");
  GHM_CHECK(cls.dim() == 4 && cls.size(0) == n && cls.size(1) % k == 0, "postprocess: level ", l, " cls_logits ",
            cls.shape(), " must be [N = ", n, ", A*K, H, W] with K = ", k);
  const std::int64_t a = cls.size(1) / k;
  GHM_CHECK(box.shape() == Shape({n, a * 4, cls.size(2), cls.size(3)}), "postprocess: level ", l, " box_deltas ",
            box.shape(), " must be [", n, ", ", a * 4, ", ", cls.size(2), ", ", cls.size(3), "]");
  GHM_CHECK(anchors.shape() == Shape({cls.size(2) * cls.size(3) * a, 4}), "postprocess: level ", l, " anchors ",
            anchors.shape(), " must be [H*W*A = ", cls.size(2) * cls.size(3) * a, ", 4]");
}

}  // namespace

std::vector<ImageDetections> postprocess(const std::vector<Tensor>& cls_logits, const std::vector<Tensor>& box_deltas,
                                         const std::vector<Tensor>& anchors, std::int64_t num_classes,
                                         const std::vector<ImageSize>& input_size, const std::vector<double>& scale,
                                         const PostprocessConfig& config) {
  GHM_CHECK(!cls_logits.empty() && cls_logits.size() == box_deltas.size() && cls_logits.size() == anchors.size(),
            "postprocess: ", cls_logits.size(), " cls levels, ", box_deltas.size(), " box levels and ", anchors.size(),
            " anchor levels must agree");
  GHM_CHECK(num_classes > 0, "postprocess: num_classes must be positive, got ", num_classes);
  const std::int64_t n = cls_logits.front().size(0), k = num_classes;
  GHM_CHECK(static_cast<std::int64_t>(input_size.size()) == n && static_cast<std::int64_t>(scale.size()) == n,
            "postprocess: need one input size and one scale per image (", n, "), got ", input_size.size(), " and ",
            scale.size());
  for (std::size_t l = 0; l < cls_logits.size(); ++l) check_level(cls_logits[l], box_deltas[l], anchors[l], n, k, l);
  const Device device = cls_logits.front().device();
  for (std::size_t l = 0; l < cls_logits.size(); ++l) {
    GHM_CHECK(cls_logits[l].device() == device && box_deltas[l].device() == device, "postprocess: level ", l,
              " has cls_logits on ", cls_logits[l].device(), " and box_deltas on ", box_deltas[l].device(),
              "; every level's head outputs must be on ", device);
    GHM_CHECK(anchors[l].device().is_cpu(), "postprocess: anchors must be on the CPU, level ", l, " is on ",
              anchors[l].device());
  }
  // The logit threshold equivalent to score > score_thresh: skips the sigmoid for most elements.
  const float t = config.score_thresh;
  const float logit_thresh = t <= 0.0f ? -INFINITY : (t >= 1.0f ? INFINITY : std::log(t / (1.0f - t)));
  const float prefilter = logit_thresh - 1e-3f;

  // Head outputs on a GPU: the candidates of every level are found there; only they and the
  // (4 / K times smaller) box deltas come to the host.
  std::vector<std::vector<Prefiltered>> device_candidates;  // [level][image]
  std::vector<Tensor> host_deltas = box_deltas;
  if (device.is_cuda()) {
    for (std::size_t l = 0; l < cls_logits.size(); ++l) {
      device_candidates.push_back(prefilter_on_device(cls_logits[l], prefilter));
      host_deltas[l] = box_deltas[l].to(Device::cpu());
    }
  }

  std::vector<ImageDetections> out(static_cast<std::size_t>(n));
  for (std::int64_t img = 0; img < n; ++img) {
    std::vector<float> boxes, scores;
    std::vector<std::int64_t> labels;
    for (std::size_t l = 0; l < cls_logits.size(); ++l) {
      const std::int64_t h = cls_logits[l].size(2), w = cls_logits[l].size(3), a = cls_logits[l].size(1) / k;
      const std::int64_t hw = h * w;
      const float* del = host_deltas[l].data<float>() + img * a * 4 * hw;
      std::vector<Candidate> cand;
      auto consider = [&](std::int64_t ch, std::int64_t p, float logit) {
        const float s = math::sigmoid(logit);
        if (s > t) cand.push_back({s, p * a * k + ch});
      };
      if (device.is_cuda()) {
        const Prefiltered& pf = device_candidates[l][static_cast<std::size_t>(img)];
        for (std::size_t i = 0; i < pf.flat.size(); ++i) consider(pf.flat[i] / hw, pf.flat[i] % hw, pf.logit[i]);
      } else {
        const float* cls = cls_logits[l].data<float>() + img * a * k * hw;
        for (std::int64_t ch = 0; ch < a * k; ++ch)
          for (std::int64_t p = 0; p < hw; ++p) {
            const float logit = cls[ch * hw + p];
            if (logit > prefilter) consider(ch, p, logit);
          }
      }
      const std::size_t keep = static_cast<std::size_t>(std::min<std::int64_t>(config.topk_per_level,
                                                                                static_cast<std::int64_t>(cand.size())));
      auto better = [](const Candidate& x, const Candidate& y) {
        return x.score > y.score || (x.score == y.score && x.index < y.index);
      };
      std::partial_sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(keep), cand.end(), better);
      const float* anc = anchors[l].data<float>();
      const BoxCoderParams& c = config.coder;
      const ImageSize size = input_size[static_cast<std::size_t>(img)];
      for (std::size_t i = 0; i < keep; ++i) {
        const std::int64_t idx = cand[i].index, p = idx / (a * k), ak = idx % (a * k), an = ak / k, cls_id = ak % k;
        float delta[4], box[4];
        for (int q = 0; q < 4; ++q) delta[q] = del[(an * 4 + q) * hw + p];
        decode_box_delta(anc + (p * a + an) * 4, delta, c.means.data(), c.stds.data(), kMaxLogRatio, true,
                         static_cast<float>(size.height), static_cast<float>(size.width), box);
        boxes.insert(boxes.end(), box, box + 4);
        scores.push_back(cand[i].score);
        labels.push_back(cls_id);
      }
    }
    const auto d = static_cast<std::int64_t>(scores.size());
    const Tensor all_boxes = Tensor::from_vector(boxes, Shape{d, 4}), all_scores = Tensor::from_vector(scores, Shape{d});
    const Tensor all_labels = Tensor::from_vector(labels, Shape{d});
    const Tensor kept = batched_nms(all_boxes, all_scores, all_labels, config.nms_iou);
    const std::int64_t m = std::min(kept.numel(), config.max_detections);
    ImageDetections& det = out[static_cast<std::size_t>(img)];
    det.boxes = Tensor::empty(Shape{m, 4});
    det.scores = Tensor::empty(Shape{m});
    det.labels = Tensor::empty(Shape{m}, DType::I64);
    const double s = scale[static_cast<std::size_t>(img)];
    GHM_CHECK(s > 0, "postprocess: image ", img, " has scale ", s, "; it must be positive");
    const ImageSize size = input_size[static_cast<std::size_t>(img)];
    const float max_x = static_cast<float>(size.width / s), max_y = static_cast<float>(size.height / s);
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t j = kept.data<std::int64_t>()[i];
      for (int q = 0; q < 4; ++q) {
        const float v = static_cast<float>(boxes[static_cast<std::size_t>(j * 4 + q)] / s);
        det.boxes.data<float>()[i * 4 + q] = std::clamp(v, 0.0f, q % 2 == 0 ? max_x : max_y);
      }
      det.scores.data<float>()[i] = scores[static_cast<std::size_t>(j)];
      det.labels.data<std::int64_t>()[i] = labels[static_cast<std::size_t>(j)];
    }
  }
  return out;
}

}  // namespace ghm::detection
