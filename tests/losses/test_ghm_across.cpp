// GHM with the density of a data-parallel job's whole batch (GhmEmaState::across, GhmCountSum):
// two "processes", each with its share of every level's rows, whose counts are summed by a hook
// that adds the other's values, against one process over all the rows. The losses' mean, the
// gradients (each process's rows, halved as the averaging of the gradients halves them) and the
// EMA state must equal the single run's, for GHM-C and GHM-R. On the CPU here; the CUDA twin is in
// tests/cuda/test_cuda_ghm_state.cpp.
#include <doctest/doctest.h>

#include <vector>

#include "core/ops/shape_ops.h"
#include "core/random.h"
#include "losses/ghm_c.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;

namespace {

// Rows [begin, end) of x.
Tensor rows(const Tensor& x, std::int64_t begin, std::int64_t end) { return narrow(x, 0, begin, end - begin); }

// One process's share: the first or second part of each level's rows (levels of `level_rows`).
Tensor share(const Tensor& x, const std::vector<std::int64_t>& level_rows, int part, std::vector<std::int64_t>& out_rows) {
  std::vector<Tensor> pieces;
  out_rows = {0};
  for (std::size_t l = 0; l + 1 < level_rows.size(); ++l) {
    const std::int64_t mid = (level_rows[l] + level_rows[l + 1]) / 2 + static_cast<std::int64_t>(l);  // unequal shares
    const std::int64_t begin = part == 0 ? level_rows[l] : mid, end = part == 0 ? mid : level_rows[l + 1];
    pieces.push_back(rows(x, begin, end));
    out_rows.push_back(out_rows.back() + end - begin);
  }
  return concat(pieces, 0);
}

struct TwoProcesses {
  std::vector<std::vector<double>> seen{2};  // each process's values as its hook saw them, by call
  GhmEmaState state[2];
  explicit TwoProcesses(int bins) : state{GhmEmaState(bins), GhmEmaState(bins)} {}
};

template <class Forward>
void check_against_one_process(const Tensor& pred, const Tensor& target, const Tensor& weight,
                               const std::vector<std::int64_t>& level_rows, const GhmSettings& settings,
                               Forward&& forward) {
  GhmEmaState single_state(settings.bins());
  const GhmResult single = forward(pred, target, weight, settings, single_state, level_rows);

  std::vector<std::int64_t> share_rows[2];
  Tensor p[2], t[2], w[2];
  for (int r = 0; r < 2; ++r) {
    p[r] = share(pred, level_rows, r, share_rows[r]);
    t[r] = share(target, level_rows, r, share_rows[r]);
    w[r] = share(weight, level_rows, r, share_rows[r]);
  }
  // First each process alone, recording its values per call; then both again with hooks that add
  // the other process's values of the same call, as an all-reduce would.
  TwoProcesses job(settings.bins());
  for (int r = 0; r < 2; ++r) {
    GhmEmaState probe(settings.bins());
    probe.across = {[&, r](std::span<double> v) { job.seen[r].insert(job.seen[r].end(), v.begin(), v.end()); }, 2};
    forward(p[r], t[r], w[r], settings, probe, share_rows[r]);
  }
  GhmResult result[2];
  for (int r = 0; r < 2; ++r) {
    std::size_t at = 0;
    job.state[r].across = {[&, r, at](std::span<double> v) mutable {
                             for (double& x : v) x += job.seen[1 - r][at++];
                           },
                           2};
    result[r] = forward(p[r], t[r], w[r], settings, job.state[r], share_rows[r]);
  }
  CHECK((result[0].total + result[1].total) / 2 == doctest::Approx(single.total).epsilon(1e-6));
  for (int r = 0; r < 2; ++r) {
    CHECK(job.state[r].acc_sum == single_state.acc_sum);
    for (std::size_t c = 0; c < single.calls.size(); ++c) {
      CHECK(result[r].calls[c].num_in_bin == single.calls[c].num_in_bin);
      CHECK(result[r].calls[c].tot == doctest::Approx(single.calls[c].tot / 2));
    }
  }
  // The averaged gradient of every row equals the single process's.
  std::vector<std::int64_t> scratch;
  for (int r = 0; r < 2; ++r) {
    const std::vector<float> mine = result[r].grad.to_vector<float>();
    const std::vector<float> theirs = share(single.grad, level_rows, r, scratch).to_vector<float>();
    REQUIRE(mine.size() == theirs.size());
    bool close = true;
    for (std::size_t i = 0; i < mine.size(); ++i)
      close = close && std::abs(mine[i] / 2 - theirs[i]) <= 1e-6f * (std::abs(theirs[i]) + 1e-6f);
    CHECK(close);
  }
}

}  // namespace

TEST_CASE("ghm across processes: GHM-C with counts summed over two processes equals one process") {
  Generator gen(5);
  const std::int64_t n = 300, k = 6;
  const Tensor pred = Tensor::normal({n, k}, -1.0f, 2.0f, gen);
  std::vector<std::int64_t> labels(n);
  std::vector<float> weights(n);
  for (std::int64_t i = 0; i < n; ++i) {
    labels[static_cast<std::size_t>(i)] = (i * 7) % (k + 1);  // k: background
    weights[static_cast<std::size_t>(i)] = i % 11 == 0 ? 0.0f : 1.0f;
  }
  const Tensor target = Tensor::from_vector(labels, {n});
  const Tensor weight = Tensor::from_vector(weights, {n});
  check_against_one_process(pred, target, weight, {0, 180, 270, 300}, GhmSettings::classification(30, 0.75, 1.0f),
                            [](auto&&... a) { return ghm_c_forward(a...); });
}

TEST_CASE("ghm across processes: GHM-R with counts summed over two processes equals one process") {
  Generator gen(6);
  const std::int64_t n = 200;
  const Tensor pred = Tensor::normal({n, 4}, 0.0f, 0.5f, gen);
  const Tensor target = Tensor::normal({n, 4}, 0.0f, 0.5f, gen);
  const Tensor weight = Tensor::uniform({n, 4}, 0.0f, 2.0f, gen);  // GHM-R's tot is the weight sum
  check_against_one_process(pred, target, weight, {0, 120, 200}, GhmSettings::regression(0.02f, 10, 0.7, 1.0f),
                            [](auto&&... a) { return ghm_r_forward(a...); });
}
