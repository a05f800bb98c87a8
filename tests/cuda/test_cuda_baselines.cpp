// The baseline losses on CUDA (BCE, focal, smooth L1, ASL1) against their CPU twins in every
// input form, and softmax cross-entropy, through autograd with upstream gradients 1 and 2.5, and the
// same bits on every run.
// Run only where a GPU is present. Tolerances: loss_cases.h.
#include <doctest/doctest.h>

#include <cstdint>
#include <functional>

#include "core/autograd.h"
#include "cuda/loss_cases.h"
#include "losses/baselines.h"
#include "losses/softmax_ce.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::cuda_loss_cases;

// ---- baselines ----------------------------------------------------------------------------------

namespace {

// Loss and gradient (upstream 1, then 2.5) of one loss on both backends.
void check_fused(const char* name, const std::function<Tensor(const Tensor&, Device)>& loss_of, const Tensor& pred) {
  CAPTURE(name);
  for (float upstream : {1.0f, 2.5f}) {
    Tensor xc = pred.clone(), xg = pred.to(kGpu);
    xc.set_requires_grad(true);
    xg.set_requires_grad(true);
    const Tensor lc = loss_of(xc, Device::cpu()), lg = loss_of(xg, kGpu);
    CHECK(lg.device() == kGpu);
    lc.backward(Tensor::full(Shape{}, upstream));
    lg.backward(Tensor::full(Shape{}, upstream, DType::F32, kGpu));
    CHECK(rel(lg.item(), lc.item()) <= kLossRtol);
    if (pred.numel() > 0) CHECK(normalised(host(xg.grad()), xc.grad().to_vector<float>()) <= kGradTol);
  }
}

}  // namespace

TEST_CASE("cuda baselines: bce and focal (gamma 2 and 1.5) in every form equal the CPU") {
  struct Size {
    std::int64_t n, k;
  };
  std::uint64_t seed = 2000;
  for (const Size size : {Size{1, 1}, Size{0, 5}, Size{53, 7}, Size{3, 300}, Size{4099, 80}}) {
    const ClsProblem p = make_cls_problem(seed++, size.n, size.k);
    CAPTURE(size.n);
    CAPTURE(size.k);
    for (TargetForm tf : {TargetForm::OneHot, TargetForm::LabelsI64, TargetForm::LabelsI32})
      for (WeightForm wf : {WeightForm::PerElement, WeightForm::PerRow}) {
        CAPTURE(static_cast<int>(tf));
        CAPTURE(static_cast<int>(wf));
        const Tensor t = p.target(tf), w = p.weight(wf);
        check_fused("bce", [&](const Tensor& x, Device d) {
          return bce_with_logits_loss(x, t.to(d), w.to(d), 37.0, 1.5f);
        }, p.pred());
        check_fused("focal gamma 2", [&](const Tensor& x, Device d) {
          return sigmoid_focal_loss(x, t.to(d), w.to(d), 11.0, 0.25f, 2.0f, 1.0f);
        }, p.pred());
        check_fused("focal gamma 1.5", [&](const Tensor& x, Device d) {
          return sigmoid_focal_loss(x, t.to(d), w.to(d), 11.0, 0.4f, 1.5f, 2.0f);
        }, p.pred());
      }
  }
}

TEST_CASE("cuda baselines: smooth L1 and ASL1 equal the CPU") {
  std::uint64_t seed = 2100;
  for (std::int64_t n : {0, 1, 29, 2003, 70001}) {
    CAPTURE(n);
    const RegProblem p = make_reg_problem(seed++, n, true);
    const Tensor t = p.target_t(), w = p.weight_t();
    check_fused("smooth_l1", [&](const Tensor& x, Device d) {
      return smooth_l1_loss(x, t.to(d), w.to(d), 13.0, 1.0f / 9.0f, 1.0f);
    }, p.pred_t());
    check_fused("asl1", [&](const Tensor& x, Device d) { return asl1_loss(x, t.to(d), w.to(d), 13.0, 0.02f, 10.0f); },
                p.pred_t());
  }
}

TEST_CASE("cuda baselines: the same bits on every run") {
  const ClsProblem p = make_cls_problem(2200, 25001, 80);
  const Tensor x = p.pred().to(kGpu), t = p.target(TargetForm::LabelsI64).to(kGpu),
               w = p.weight(WeightForm::PerRow).to(kGpu);
  const float first = sigmoid_focal_loss(x, t, w, 100.0).item();
  for (int i = 0; i < 3; ++i) CHECK(sigmoid_focal_loss(x, t, w, 100.0).item() == first);
}

TEST_CASE("cuda softmax cross-entropy equals the CPU, ignores label -1 and reports a bad label") {
  Generator gen(2100);
  for (const std::int64_t k : {2, 28, 1000}) {
    CAPTURE(k);
    const std::int64_t n = 517;
    Tensor pred = Tensor::normal(Shape{n, k}, 0.0f, 4.0f, gen);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
    for (std::int64_t r = 0; r < n; ++r)
      labels[static_cast<std::size_t>(r)] = r % 7 == 3 ? -1 : static_cast<std::int64_t>(gen.next_u64() % k);
    const Tensor y = Tensor::from_vector(labels, Shape{n});
    check_fused("softmax ce", [&](const Tensor& x, Device d) {
      return softmax_cross_entropy_loss(x, y.to(d), 97.0, 1.5f);
    }, pred);
  }
  const Tensor bad = Tensor::from_vector<std::int64_t>({0, 5}, Shape{2});
  CHECK_THROWS_WITH_AS(softmax_cross_entropy_loss(Tensor::zeros(Shape{2, 5}, DType::F32, kGpu), bad.to(kGpu), 1.0),
                       doctest::Contains("label 5 is outside [0, 5)"), Error);
}
