// Softmax cross-entropy against a float64 evaluation of its definition (losses/softmax_ce.h):
// value and gradient, ignored rows, extreme logits, the same bits for any thread count, and errors
// that name the bad input.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "losses/softmax_ce.h"

using namespace ghm;

namespace {

struct Reference {
  double loss = 0;           // sum over labelled rows of -log p_y, times loss_weight / avg_factor
  std::vector<double> grad;  // [N, K]
};

// -log p_y = log sum_j exp(x_j) - x_y, in double with the row max taken out; d/dx_j = p_j - [j = y].
Reference reference(const std::vector<float>& x, const std::vector<std::int64_t>& y, std::int64_t k, double avg,
                    double weight) {
  Reference r;
  r.grad.assign(x.size(), 0.0);
  for (std::size_t row = 0; row < y.size(); ++row) {
    if (y[row] < 0) continue;
    const float* xr = x.data() + row * k;
    double m = xr[0], s = 0;
    for (std::int64_t j = 1; j < k; ++j) m = std::max(m, static_cast<double>(xr[j]));
    for (std::int64_t j = 0; j < k; ++j) s += std::exp(xr[j] - m);
    r.loss += ((m - xr[y[row]]) + std::log(s)) * weight / avg;
    for (std::int64_t j = 0; j < k; ++j)
      r.grad[row * k + j] = (std::exp(xr[j] - m) / s - (j == y[row] ? 1.0 : 0.0)) * weight / avg;
  }
  return r;
}

struct Problem {
  std::int64_t n, k;
  std::vector<float> x;
  std::vector<std::int64_t> y;
};

Problem make_problem(std::uint64_t seed, std::int64_t n, std::int64_t k, float spread) {
  Generator gen(seed);
  Problem p{n, k, {}, {}};
  for (std::int64_t i = 0; i < n * k; ++i) p.x.push_back(gen.uniform(-spread, spread));
  for (std::int64_t r = 0; r < n; ++r)
    p.y.push_back(r % 5 == 4 ? -1 : static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(k)));
  return p;
}

// Runs the op (upstream gradient `upstream`); returns (loss, gradient).
std::pair<float, std::vector<float>> run(const Problem& p, double avg, float weight, float upstream = 1.0f) {
  Tensor x = Tensor::from_vector(p.x, Shape{p.n, p.k});
  x.set_requires_grad(true);
  const Tensor loss = losses::softmax_cross_entropy_loss(x, Tensor::from_vector(p.y, Shape{p.n}), avg, weight);
  loss.backward(Tensor::full(Shape{}, upstream));
  return {loss.item(), x.grad().to_vector<float>()};
}

}  // namespace

TEST_CASE("softmax cross-entropy: value and gradient equal the float64 definition") {
  struct Size {
    std::int64_t n, k;
    float spread;
  };
  std::uint64_t seed = 40;
  for (const Size s : {Size{1, 2, 1.0f}, Size{37, 28, 5.0f}, Size{300, 3, 20.0f}, Size{9, 1000, 8.0f}}) {
    CAPTURE(s.n);
    CAPTURE(s.k);
    const Problem p = make_problem(seed++, s.n, s.k, s.spread);
    const Reference ref = reference(p.x, p.y, p.k, 13.0, 1.5);
    for (const float upstream : {1.0f, 2.5f}) {
      const auto [loss, grad] = run(p, 13.0, 1.5f, upstream);
      CHECK(std::abs(loss - ref.loss) <= 2e-6 * std::max(1.0, std::abs(ref.loss)));
      double worst = 0;
      for (std::size_t i = 0; i < grad.size(); ++i) worst = std::max(worst, std::abs(grad[i] - upstream * ref.grad[i]));
      CHECK(worst <= 1e-6 * upstream);  // each |g| <= weight / avg; float32 exp and sums
    }
  }
}

TEST_CASE("softmax cross-entropy: label -1 leaves a row out, and every row's gradient sums to zero") {
  const Problem p = make_problem(7, 20, 6, 3.0f);
  const auto [loss, grad] = run(p, 1.0, 1.0f);
  for (std::int64_t r = 0; r < p.n; ++r) {
    double sum = 0;
    for (std::int64_t j = 0; j < p.k; ++j) sum += grad[r * p.k + j];
    CHECK(std::abs(sum) <= 1e-6);
    if (p.y[r] < 0)
      for (std::int64_t j = 0; j < p.k; ++j) CHECK(grad[r * p.k + j] == 0.0f);
  }
  Problem none = p;
  for (auto& label : none.y) label = -1;
  const auto [empty_loss, empty_grad] = run(none, 1.0, 1.0f);
  CHECK(empty_loss == 0.0f);
  const auto [rows0, grad0] = run(Problem{0, 4, {}, {}}, 1.0, 1.0f);
  CHECK(rows0 == 0.0f);
}

TEST_CASE("softmax cross-entropy: extreme logits give finite values (the max is taken out)") {
  const Problem p{3, 3, {1e4f, -1e4f, 0.0f, 88.0f, 89.0f, -3e38f, 3e38f, 3e38f, -3e38f}, {1, 0, 0}};
  const auto [loss, grad] = run(p, 1.0, 1.0f);
  const Reference ref = reference(p.x, p.y, 3, 1.0, 1.0);
  CHECK(std::isfinite(loss));
  CHECK(loss == doctest::Approx(ref.loss).epsilon(1e-6));
  CHECK(ref.loss == doctest::Approx(2e4 + 1 + std::log1p(std::exp(-1.0)) + std::log(2.0)).epsilon(1e-12));
  for (std::size_t i = 0; i < grad.size(); ++i) CHECK(std::abs(grad[i] - ref.grad[i]) <= 1e-6);
  CHECK(grad[1] == -1.0f);  // p = 0 at x = -1e4 against 1e4
  CHECK(grad[6] == doctest::Approx(-0.5));
}

TEST_CASE("softmax cross-entropy: the same bits for one and two threads") {
  const Problem p = make_problem(11, 1031, 28, 6.0f);
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = run(p, 64.0, 1.0f);
  omp_set_num_threads(2);
  const auto two = run(p, 64.0, 1.0f);
  omp_set_num_threads(before);
  CHECK(one.first == two.first);
  CHECK(one.second == two.second);
}

TEST_CASE("softmax cross-entropy: bad inputs are errors naming them") {
  const Tensor x = Tensor::zeros(Shape{2, 5});
  CHECK_THROWS_WITH_AS(losses::softmax_cross_entropy_loss(x, Tensor::from_vector<std::int64_t>({0, 5}, Shape{2}), 1.0),
                       doctest::Contains("label 5 of row 1 is outside [0, 5)"), Error);
  CHECK_THROWS_WITH_AS(losses::softmax_cross_entropy_loss(x, Tensor::from_vector<std::int64_t>({-2, 0}, Shape{2}), 1.0),
                       doctest::Contains("label -2 of row 0"), Error);
  CHECK_THROWS_WITH_AS(losses::softmax_cross_entropy_loss(x, Tensor::from_vector<std::int64_t>({0}, Shape{1}), 1.0),
                       doctest::Contains("labels must be [N] = [2]"), Error);
  CHECK_THROWS_WITH_AS(losses::softmax_cross_entropy_loss(x, Tensor::zeros(Shape{2}), 1.0),
                       doctest::Contains("labels"), Error);
  CHECK_THROWS_WITH_AS(losses::softmax_cross_entropy_loss(x, Tensor::zeros(Shape{2}, DType::I64), 0.0),
                       doctest::Contains("avg_factor must be positive"), Error);
}
