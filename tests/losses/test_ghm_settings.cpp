// GHM settings (losses/ghm_settings.h): what each factory fills in, the range checks that name
// the field as the caller spells it (a config key with its location, an option), and the checks
// at the start of a loss (the settings' kind, the EMA state's size).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "losses/ghm_c.h"
#include "losses/ghm_problems.h"
#include "losses/ghm_r.h"
#include "losses/ghm_settings.h"

using namespace ghm;
using namespace ghm::losses;
using namespace ghm::testing::ghm_cases;

TEST_CASE("ghm settings: the kind fixes the last edge and the tot rule, and the defaults are the reference's") {
  const GhmSettings c = GhmSettings::classification();
  CHECK(c.kind() == GhmKind::Classification);
  CHECK(c.bins() == 10);
  CHECK(c.momentum() == 0.0);
  CHECK_FALSE(c.has_momentum());
  CHECK(c.loss_weight() == 1.0f);
  CHECK(c.last_edge() == kGhmcLastEdge);
  CHECK(c.tot_rule() == GhmTot::CountValid);

  const GhmSettings r = GhmSettings::regression();
  CHECK(r.kind() == GhmKind::Regression);
  CHECK(r.bins() == 10);
  CHECK(r.mu() == 0.02f);
  CHECK(r.last_edge() == kGhmrLastEdge);
  CHECK(r.tot_rule() == GhmTot::SumWeights);
  // mu^2 is taken in double and rounded once to float32, as the reference rounds it.
  CHECK(r.mu_squared() == static_cast<float>(static_cast<double>(0.02f) * static_cast<double>(0.02f)));

  const GhmSettings final_r = GhmSettings::regression(0.5f, 30, 0.7, 10.0f);
  CHECK(final_r.mu() == 0.5f);
  CHECK(final_r.bins() == 30);
  CHECK(final_r.momentum() == 0.7);
  CHECK(final_r.has_momentum());
  CHECK(final_r.loss_weight() == 10.0f);
}

TEST_CASE("ghm_c and ghm_r: bins out of range and momentum outside 0 <= m < 1 are errors naming them") {
  const Tensor x = Tensor::zeros(Shape{3, 2}), w = Tensor::ones(Shape{3, 2});
  // 255: above the implementation's limit (bin indices are stored in a byte; 126 at most).
  for (int bins : {0, -3, 255}) {
    CAPTURE(bins);
    GhmEmaState state(10);
    CHECK(contains(error_message([&] { ghm_c_forward(x, x, w, GhmSettings::classification(bins, 0.0, 1.0f), state); }), "bins"));
    CHECK(contains(error_message([&] { ghm_r_forward(x, x, w, GhmSettings::regression(0.02f, bins, 0.0, 1.0f), state); }), "bins"));
  }
  for (double momentum : {1.0, 1.5, -0.1}) {
    CAPTURE(momentum);
    GhmEmaState state(10);
    CHECK(contains(error_message([&] { ghm_c_forward(x, x, w, GhmSettings::classification(10, momentum, 1.0f), state); }), "momentum"));
    CHECK(contains(error_message([&] {
                     ghm_r_forward(x, x, w, GhmSettings::regression(0.02f, 10, momentum, 1.0f), state);
                   }),
                   "momentum"));
  }
  // An EMA state of another size than bins (with momentum) is an error, not a silent resize.
  GhmEmaState small_state(10);
  CHECK(contains(error_message([&] { ghm_c_forward(x, x, w, GhmSettings::classification(30, 0.75, 1.0f), small_state); }), "state"));

  GhmEmaState state(10);
  const std::vector<std::int64_t> bad_levels{0, 2};  // must end at N = 3
  error_message([&] { ghm_c_forward(x, x, w, GhmSettings::classification(10, 0.5, 1.0f), state, bad_levels); });
  error_message([&] { ghm_c_forward(x, Tensor::zeros(Shape{3, 3}), w, GhmSettings::classification(), state); });
  error_message([&] { ghm_r_forward(x, x, Tensor::ones(Shape{3}), GhmSettings::regression(), state); });
}

TEST_CASE("ghm settings: errors name the field as given, and mu and loss_weight are checked too") {
  const GhmSettingNames keys{"run.yaml at $.loss.reg.bins", "run.yaml at $.loss.reg.momentum",
                             "run.yaml at $.loss.reg.loss_weight", "run.yaml at $.loss.reg.mu"};
  const std::string bins = error_message([&] { GhmSettings::regression(0.02f, 127, 0.0, 1.0f, keys); });
  CHECK(contains(bins, "run.yaml at $.loss.reg.bins"));
  CHECK(contains(bins, "127"));
  CHECK(contains(error_message([&] { GhmSettings::regression(0.02f, 10, 1.0, 1.0f, keys); }), "$.loss.reg.momentum"));
  const float inf = std::numeric_limits<float>::infinity();
  for (float mu : {0.0f, -0.02f, inf, std::nanf("")}) {
    CAPTURE(mu);
    CHECK(contains(error_message([&] { GhmSettings::regression(mu, 10, 0.0, 1.0f, keys); }), "$.loss.reg.mu"));
  }
  for (float loss_weight : {-1.0f, inf, std::nanf("")}) {
    CAPTURE(loss_weight);
    CHECK(contains(error_message([&] { GhmSettings::regression(0.02f, 10, 0.0, loss_weight, keys); }),
                   "$.loss.reg.loss_weight"));
    CHECK(contains(error_message([&] { GhmSettings::classification(10, 0.0, loss_weight); }), "GHM-C loss_weight"));
  }
  // Without names, the loss and the field.
  CHECK(contains(error_message([&] { GhmSettings::regression(0.0f); }), "GHM-R mu"));
  CHECK(contains(error_message([&] { GhmSettings::classification(0); }), "GHM-C bins"));
  // The edges of the ranges are valid.
  CHECK(GhmSettings::classification(1, 0.0, 0.0f).bins() == 1);
  CHECK(GhmSettings::classification(kMaxGhmBins, 0.999, 1.0f).bins() == kMaxGhmBins);
}

TEST_CASE("ghm settings: a loss given the other kind's settings is an error, and a fresh EMA state gets [bins] zeros") {
  const Tensor x = Tensor::zeros(Shape{3, 4}), w = Tensor::ones(Shape{3, 4});
  GhmEmaState state;
  CHECK(contains(error_message([&] { ghm_c_forward(x, x, w, GhmSettings::regression(), state); }), "GHM-C settings"));
  CHECK(contains(error_message([&] { ghm_r_forward(x, x, w, GhmSettings::classification(), state); }),
                 "GHM-R settings"));

  GhmEmaState fresh;
  const GhmcResult r = ghm_c_forward(x, x, w, GhmSettings::classification(30, 0.75, 1.0f), fresh);
  REQUIRE(fresh.acc_sum.size() == 30);
  CHECK(fresh.acc_sum == r.calls[0].acc_sum);
  GhmEmaState none;
  ghm_r_forward(x, x, w, GhmSettings::regression(), none);  // no momentum: no state is made
  CHECK(none.acc_sum.empty());
}
