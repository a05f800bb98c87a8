// GHM-C and GHM-R determinism: bit-identical losses, gradients and EMA states run to run and for
// any number of CPU threads (the histograms are integer, the loss partials summed in chunk order).
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "losses/ghm_c.h"
#include "losses/ghm_problems.h"
#include "losses/ghm_r.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::ghm_cases;

// ---- determinism ----------------------------------------------------------------------------------

TEST_CASE("ghm_c and ghm_r: bit-identical results run to run and for 1 or 2 or all threads") {
  // Large enough (140k elements) for the CPU kernels to split the work across threads.
  const ClsProblem p = make_cls_problem(1000, 20011, 7);
  const RegProblem r = make_reg_problem(1001, 30011, false, 0.4f);
  const std::vector<std::int64_t> levels{0, 15000, 18800, 19800, 19990, 20011};
  const std::vector<std::int64_t> rlevels{0, 22000, 28000, 29500, 30000, 30011};
  const int saved_threads = omp_get_max_threads();

  struct Run {
    std::vector<float> c_grad, r_grad, c_state, r_state;
    float c_loss = 0, r_loss = 0;
  };
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Run out;
    GhmEmaState cs(30), rs(10);
    for (int iteration = 0; iteration < 2; ++iteration) {
      const GhmcResult c = ghm_c_forward(p.pred(), p.target(TargetForm::LabelsI64), p.weight(WeightForm::PerRow),
                                         GhmSettings::classification(30, 0.75, 1.0f), cs, levels);
      const GhmrResult g =
          ghm_r_forward(r.pred_t(), r.target_t(), r.weight_t(), GhmSettings::regression(0.02f, 10, 0.7, 10.0f), rs, rlevels);
      out.c_grad = c.grad.to_vector<float>();
      out.r_grad = g.grad.to_vector<float>();
      out.c_loss = c.loss.item();
      out.r_loss = g.loss.item();
    }
    out.c_state = cs.acc_sum;
    out.r_state = rs.acc_sum;
    return out;
  };
  auto bits_equal = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  const Run base = run(1);
  for (int threads : {1, 2, std::max(2, omp_get_num_procs())}) {
    CAPTURE(threads);
    const Run other = run(threads);
    // Bit identity is the point here, so the floats are compared by their bytes.
    CHECK(std::memcmp(&base.c_loss, &other.c_loss, sizeof(float)) == 0);
    CHECK(std::memcmp(&base.r_loss, &other.r_loss, sizeof(float)) == 0);
    CHECK(bits_equal(base.c_grad, other.c_grad));
    CHECK(bits_equal(base.r_grad, other.r_grad));
    CHECK(bits_equal(base.c_state, other.c_state));
    CHECK(bits_equal(base.r_state, other.r_state));
  }
  omp_set_num_threads(saved_threads);
}
