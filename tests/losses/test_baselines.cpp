// The baseline losses (BCE, focal, smooth L1, ASL1) against the float64 reference
// (reference_losses.h, written from the formulas in losses/baselines.h): loss values and autograd
// gradients on random inputs with weights that include zeros, in both target and weight forms,
// avg_factor and loss_weight scaling, and the errors for bad arguments.
//
// Tolerances (why):
//   kLossRtol 1e-5: the fast code sums float32 terms (a few thousand here) while the reference is
//                   double; float32 rounding of such sums is ~1e-7 relative, so 1e-5 is ~100x.
//                   (Focal terms of easy examples lose relative precision in float32 through
//                   log(p) near p = 1, but they are weighted by (1 - p_t)^2 ~ 1e-8 and do not
//                   move the sum.)
//   kGradTol 1e-5:  normalised error max|ours - ref| / max|ref|; each gradient element is a few
//                   float32 operations (a few ulps ~ 1e-7 relative).
//   kScaleRtol 1e-6: the same computation divided by another avg_factor / times another
//                   loss_weight: one or two extra float32 roundings.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/random.h"
#include "core/tensor.h"
#include "losses/baselines.h"
#include "losses/loss_problems.h"
#include "losses/reference_losses.h"

using namespace ghm;
using namespace ghm::losses;
using ghm::testing::loss_problems::contains;
using ghm::testing::loss_problems::error_message;
namespace ref = ghm::testing::reference;

namespace {

constexpr double kLossRtol = 1e-5;
constexpr double kGradTol = 1e-5;
constexpr double kScaleRtol = 1e-6;

// A classification problem: logits, labels (-1, background K, or a class), weights with zeros.
struct Cls {
  std::int64_t n = 0, k = 0;
  std::vector<float> logits;         // [N, K]
  std::vector<std::int64_t> labels;  // [N]
  std::vector<float> weight_elem;    // [N, K]
  std::vector<float> weight_row;     // [N]
};

Cls make_cls(std::uint64_t seed, std::int64_t n, std::int64_t k) {
  Generator gen(seed);
  Cls c;
  c.n = n;
  c.k = k;
  for (std::int64_t i = 0; i < n * k; ++i) {
    const float u = gen.uniform();
    // Mostly [-6, 6]; some around the prior bias; a few saturated.
    c.logits.push_back(u < 0.7f   ? gen.uniform(-6.0f, 6.0f)
                       : u < 0.9f ? -4.595f + gen.normal()
                                  : gen.uniform(-25.0f, 25.0f));
  }
  for (std::int64_t r = 0; r < n; ++r) {
    const float u = gen.uniform();
    c.labels.push_back(u < 0.1f   ? -1
                       : u < 0.5f ? k
                                  : static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(k)));
    c.weight_row.push_back(gen.uniform() < 0.2f ? 0.0f : gen.uniform(0.5f, 2.0f));
  }
  for (std::int64_t i = 0; i < n * k; ++i)
    c.weight_elem.push_back(gen.uniform() < 0.2f ? 0.0f : gen.uniform(0.5f, 2.0f));
  return c;
}

// Regression deltas: |d| on both sides of beta = 1/9 (but never within 1% of it, where float32
// and double could take different branches), some exactly 0.
struct Reg {
  std::int64_t n = 0, d = 4;
  std::vector<float> pred, target, weight;  // [N, D]
};

Reg make_reg(std::uint64_t seed, std::int64_t n, float beta) {
  Generator gen(seed);
  Reg r;
  r.n = n;
  for (std::int64_t i = 0; i < n * r.d; ++i) {
    const float t = gen.uniform(-2.0f, 2.0f);
    float delta = 0.0f;
    const float u = gen.uniform();
    if (u < 0.45f)
      delta = gen.uniform(0.0f, 0.99f * beta);
    else if (u < 0.95f)
      delta = gen.uniform(1.01f * beta, 3.0f);
    delta *= gen.uniform() < 0.5f ? -1.0f : 1.0f;
    r.target.push_back(t);
    r.pred.push_back(t + delta);
    r.weight.push_back(gen.uniform() < 0.25f ? 0.0f : gen.uniform(0.5f, 2.0f));
  }
  return r;
}

// Runs `loss_of(pred)` with autograd; returns the loss and dL/dpred.
struct Got {
  double loss = 0;
  std::vector<float> grad;
};
Got run(const std::vector<float>& values, const Shape& shape, const std::function<Tensor(const Tensor&)>& loss_of) {
  Tensor pred = Tensor::from_vector(values, shape);
  pred.set_requires_grad(true);
  const Tensor loss = loss_of(pred);
  CHECK(loss.shape() == Shape{});
  loss.backward();
  return {loss.item(), pred.grad().to_vector<float>()};
}

struct Worst {
  double loss = 0, grad = 0;
  void add(const Got& got, const ref::Loss& want) {
    const double l = ref::relative_error(got.loss, want.loss), g = ref::normalised_error(got.grad, want.grad);
    CHECK(l <= kLossRtol);
    CHECK(g <= kGradTol);
    loss = std::max(loss, l);
    grad = std::max(grad, g);
  }
  std::string summary() const { return str_cat("max errors: loss rel ", loss, ", grad normalised ", grad); }
};

enum class TargetForm { OneHot, Labels };
enum class WeightForm { PerElement, PerRow };

Tensor target_of(const Cls& c, TargetForm f) {
  return f == TargetForm::OneHot ? Tensor::from_vector(ref::expand_labels(c.labels, c.k), Shape{c.n, c.k})
                                 : Tensor::from_vector(c.labels, Shape{c.n});
}
Tensor weight_of(const Cls& c, WeightForm f) {
  return f == WeightForm::PerElement ? Tensor::from_vector(c.weight_elem, Shape{c.n, c.k})
                                     : Tensor::from_vector(c.weight_row, Shape{c.n});
}
std::vector<float> ref_weight(const Cls& c, WeightForm f) {
  return f == WeightForm::PerElement ? c.weight_elem : ref::expand_row_weights(c.weight_row, c.k);
}

}  // namespace

TEST_CASE("reference baselines: gradients match central differences of the reference losses") {
  const Cls c = make_cls(1, 5, 3);
  const std::vector<float> y = ref::expand_labels(c.labels, c.k);
  auto numeric = [](std::vector<float> x, std::size_t e, const std::function<double(const std::vector<float>&)>& f) {
    // x is float: step by ~2^-18 |x| and divide by the step the float values actually took.
    const float saved = x[e];
    const float eps = std::ldexp(1.0f, -18) * std::max(1.0f, std::abs(saved));
    const float up = saved + eps, down = saved - eps;
    x[e] = up;
    const double lp = f(x);
    x[e] = down;
    const double lm = f(x);
    return (lp - lm) / (static_cast<double>(up) - static_cast<double>(down));
  };
  // Steps of ~2^-18 |x|: truncation ~eps^2 |f'''| ~ 1e-11, rounding ~1e-16 |L| / 4e-6 ~ 1e-10,
  // against largest gradients of ~0.1-1: normalised error 1e-6. (The reference gradients are
  // rounded to float for normalised_error, which costs only ~6e-8.)
  const ref::Loss bce = ref::bce(c.logits, y, c.weight_elem, 3.0);
  const ref::Loss focal = ref::focal(c.logits, y, c.weight_elem, 3.0, 0.25, 2.0);
  std::vector<double> nb, nf;
  for (std::size_t e = 0; e < c.logits.size(); ++e) {
    nb.push_back(
        numeric(c.logits, e, [&](const std::vector<float>& x) { return ref::bce(x, y, c.weight_elem, 3.0).loss; }));
    nf.push_back(numeric(c.logits, e, [&](const std::vector<float>& x) {
      return ref::focal(x, y, c.weight_elem, 3.0, 0.25, 2.0).loss;
    }));
  }
  auto as_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  CHECK(ref::normalised_error(as_float(bce.grad), nb) <= 1e-6);
  CHECK(ref::normalised_error(as_float(focal.grad), nf) <= 1e-6);

  const Reg r = make_reg(2, 5, 1.0f / 9.0f);
  const ref::Loss sl1 = ref::smooth_l1(r.pred, r.target, r.weight, 2.0, 1.0f / 9.0f);
  const ref::Loss asl1 = ref::asl1(r.pred, r.target, r.weight, 2.0, 0.02f);
  std::vector<double> ns, na;
  for (std::size_t e = 0; e < r.pred.size(); ++e) {
    ns.push_back(numeric(r.pred, e, [&](const std::vector<float>& p) {
      return ref::smooth_l1(p, r.target, r.weight, 2.0, 1.0f / 9.0f).loss;
    }));
    na.push_back(numeric(
        r.pred, e, [&](const std::vector<float>& p) { return ref::asl1(p, r.target, r.weight, 2.0, 0.02f).loss; }));
  }
  CHECK(ref::normalised_error(as_float(sl1.grad), ns) <= 1e-6);
  CHECK(ref::normalised_error(as_float(asl1.grad), na) <= 1e-6);
}

TEST_CASE("bce_with_logits_loss and sigmoid_focal_loss match the reference in every target and weight form") {
  struct Size {
    std::int64_t n, k;
  };
  Worst bce_worst, focal_worst;
  std::uint64_t seed = 10;
  for (const Size size : {Size{1, 1}, Size{37, 1}, Size{53, 7}, Size{13, 80}, Size{1001, 7}}) {
    const Cls c = make_cls(seed++, size.n, size.k);
    const std::vector<float> y = ref::expand_labels(c.labels, c.k);
    for (TargetForm tf : {TargetForm::OneHot, TargetForm::Labels})
      for (WeightForm wf : {WeightForm::PerElement, WeightForm::PerRow}) {
        CAPTURE(size.n);
        CAPTURE(size.k);
        CAPTURE(tf == TargetForm::OneHot);
        CAPTURE(wf == WeightForm::PerElement);
        const double avg = 17.5;
        const Tensor target = target_of(c, tf), weight = weight_of(c, wf);
        const std::vector<float> w = ref_weight(c, wf);
        bce_worst.add(run(c.logits, Shape{c.n, c.k},
                          [&](const Tensor& p) { return bce_with_logits_loss(p, target, weight, avg); }),
                      ref::bce(c.logits, y, w, avg));
        bce_worst.add(run(c.logits, Shape{c.n, c.k},
                          [&](const Tensor& p) { return bce_with_logits_loss(p, target, weight, avg, 0.5f); }),
                      ref::bce(c.logits, y, w, avg, 0.5));
        focal_worst.add(
            run(c.logits, Shape{c.n, c.k}, [&](const Tensor& p) { return sigmoid_focal_loss(p, target, weight, avg); }),
            ref::focal(c.logits, y, w, avg, 0.25, 2.0));
        focal_worst.add(
            run(c.logits, Shape{c.n, c.k},
                [&](const Tensor& p) { return sigmoid_focal_loss(p, target, weight, avg, 0.4f, 1.5f, 2.0f); }),
            ref::focal(c.logits, y, w, avg, static_cast<double>(0.4f), 1.5, 2.0));
      }
  }
  MESSAGE("bce: ", bce_worst.summary());
  MESSAGE("focal: ", focal_worst.summary());
}

TEST_CASE("smooth_l1_loss (|d| on both sides of beta) and asl1_loss match the reference") {
  Worst sl1_worst, asl1_worst;
  std::uint64_t seed = 20;
  const float beta = 1.0f / 9.0f;
  for (std::int64_t n : {1, 29, 2003}) {
    CAPTURE(n);
    const Reg r = make_reg(seed++, n, beta);
    const Shape shape{r.n, r.d};
    const Tensor target = Tensor::from_vector(r.target, shape), weight = Tensor::from_vector(r.weight, shape);
    for (double avg : {1.0, 33.0}) {
      CAPTURE(avg);
      sl1_worst.add(run(r.pred, shape, [&](const Tensor& p) { return smooth_l1_loss(p, target, weight, avg); }),
                    ref::smooth_l1(r.pred, r.target, r.weight, avg, beta));
      sl1_worst.add(
          run(r.pred, shape, [&](const Tensor& p) { return smooth_l1_loss(p, target, weight, avg, 1.0f, 3.0f); }),
          ref::smooth_l1(r.pred, r.target, r.weight, avg, 1.0f, 3.0));
      asl1_worst.add(run(r.pred, shape, [&](const Tensor& p) { return asl1_loss(p, target, weight, avg); }),
                     ref::asl1(r.pred, r.target, r.weight, avg, 0.02f));
      asl1_worst.add(
          run(r.pred, shape, [&](const Tensor& p) { return asl1_loss(p, target, weight, avg, 0.1f, 10.0f); }),
          ref::asl1(r.pred, r.target, r.weight, avg, 0.1f, 10.0));
    }
  }
  MESSAGE("smooth l1: ", sl1_worst.summary());
  MESSAGE("asl1: ", asl1_worst.summary());
}

TEST_CASE("baselines: avg_factor divides the loss and the gradient") {
  const Cls c = make_cls(30, 23, 5);
  const Tensor target = target_of(c, TargetForm::Labels), weight = weight_of(c, WeightForm::PerRow);
  const Reg r = make_reg(31, 23, 1.0f / 9.0f);
  const Shape rs{r.n, r.d};
  const Tensor rt = Tensor::from_vector(r.target, rs), rw = Tensor::from_vector(r.weight, rs);
  using LossOf = std::function<Tensor(const Tensor&, double)>;
  struct Case {
    const char* name;
    const std::vector<float>* values;
    Shape shape;
    LossOf loss_of;
  };
  const std::vector<Case> cases{
      {"bce", &c.logits, Shape{c.n, c.k},
       [&](const Tensor& p, double a) { return bce_with_logits_loss(p, target, weight, a); }},
      {"focal", &c.logits, Shape{c.n, c.k},
       [&](const Tensor& p, double a) { return sigmoid_focal_loss(p, target, weight, a); }},
      {"smooth_l1", &r.pred, rs, [&](const Tensor& p, double a) { return smooth_l1_loss(p, rt, rw, a); }},
      {"asl1", &r.pred, rs, [&](const Tensor& p, double a) { return asl1_loss(p, rt, rw, a); }},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    const Got one = run(*k.values, k.shape, [&](const Tensor& p) { return k.loss_of(p, 1.0); });
    const Got scaled = run(*k.values, k.shape, [&](const Tensor& p) { return k.loss_of(p, 8.5); });
    CHECK(ref::relative_error(scaled.loss * 8.5, one.loss) <= kScaleRtol);
    std::vector<double> expected(one.grad.begin(), one.grad.end());
    for (double& g : expected) g /= 8.5;
    CHECK(ref::normalised_error(scaled.grad, expected) <= kScaleRtol);
  }
}

TEST_CASE("baselines: avg_factor <= 0 and mismatched shapes are errors") {
  const Tensor x = Tensor::zeros(Shape{4, 3}), y = Tensor::zeros(Shape{4, 3}), w = Tensor::ones(Shape{4, 3});
  for (double avg : {0.0, -2.0}) {
    CAPTURE(avg);
    CHECK(contains(error_message([&] { bce_with_logits_loss(x, y, w, avg); }), "avg_factor"));
    CHECK(contains(error_message([&] { sigmoid_focal_loss(x, y, w, avg); }), "avg_factor"));
    CHECK(contains(error_message([&] { smooth_l1_loss(x, y, w, avg); }), "avg_factor"));
    CHECK(contains(error_message([&] { asl1_loss(x, y, w, avg); }), "avg_factor"));
  }
  const Tensor wide = Tensor::zeros(Shape{4, 4});
  const Tensor labels_long = Tensor::from_vector<std::int64_t>({0, 1, 2, 3, 0}, Shape{5});
  const Tensor row_weight_long = Tensor::ones(Shape{5});
  error_message([&] { bce_with_logits_loss(x, wide, w, 1.0); });                   // one-hot of another K
  error_message([&] { bce_with_logits_loss(x, labels_long, w, 1.0); });            // labels of another N
  error_message([&] { bce_with_logits_loss(x, y, wide, 1.0); });                   // weight [N, K'] mismatch
  error_message([&] { sigmoid_focal_loss(x, y, row_weight_long, 1.0); });          // weight [N'] mismatch
  error_message([&] { sigmoid_focal_loss(Tensor::zeros(Shape{4}), y, w, 1.0); });  // pred not [N, K]
  error_message([&] { smooth_l1_loss(x, wide, w, 1.0); });                         // target shape
  error_message([&] { asl1_loss(x, y, wide, 1.0); });                              // weight shape
}
