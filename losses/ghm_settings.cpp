// The GHM settings' checks (losses/ghm_settings.h): each field against its range, once, where the
// settings are made.
#include "losses/ghm_settings.h"

#include <cmath>

#include "core/check.h"

namespace ghm::losses {
namespace {

std::string field_name(const std::string& given, const char* loss, const char* field) {
  return given.empty() ? std::string(loss) + " " + field : given;
}

void check_common(const char* loss, int bins, double momentum, float loss_weight, const GhmSettingNames& names) {
  // Bin indices are stored in one byte with two values reserved (losses/ghm_math.h).
  GHM_CHECK(bins >= 1 && bins <= kMaxGhmBins, field_name(names.bins, loss, "bins"), ": must be in [1, ", kMaxGhmBins,
            "], got ", bins);
  // m = 1 would divide by an EMA that stays 0; the reference only tests m > 0.
  GHM_CHECK(momentum >= 0.0 && momentum < 1.0, field_name(names.momentum, loss, "momentum"),
            ": must be in [0, 1), got ", momentum);
  GHM_CHECK(std::isfinite(loss_weight) && loss_weight >= 0.0f, field_name(names.loss_weight, loss, "loss_weight"),
            ": must be finite and >= 0, got ", loss_weight);
}

}  // namespace

GhmSettings::GhmSettings(GhmKind kind, int bins, double momentum, float loss_weight, float mu)
    : kind_(kind), bins_(bins), momentum_(momentum), loss_weight_(loss_weight), mu_(mu),
      last_edge_(kind == GhmKind::Classification ? kGhmcLastEdge : kGhmrLastEdge),
      tot_rule_(kind == GhmKind::Classification ? GhmTot::CountValid : GhmTot::SumWeights) {}

GhmSettings GhmSettings::classification(int bins, double momentum, float loss_weight, const GhmSettingNames& names) {
  check_common("GHM-C", bins, momentum, loss_weight, names);
  return GhmSettings(GhmKind::Classification, bins, momentum, loss_weight, 0.0f);
}

GhmSettings GhmSettings::regression(float mu, int bins, double momentum, float loss_weight,
                                    const GhmSettingNames& names) {
  check_common("GHM-R", bins, momentum, loss_weight, names);
  GHM_CHECK(std::isfinite(mu) && mu > 0.0f, field_name(names.mu, "GHM-R", "mu"), ": must be finite and > 0, got ", mu);
  return GhmSettings(GhmKind::Regression, bins, momentum, loss_weight, mu);
}

void check_ghm_call(const GhmSettings& settings, GhmKind kind, GhmEmaState& state, const char* op) {
  GHM_CHECK(settings.kind() == kind, op, ": needs ", kind == GhmKind::Classification ? "GHM-C" : "GHM-R",
            " settings, got ", settings.name(), " settings");
  if (!settings.has_momentum()) return;
  if (state.acc_sum.empty()) state.acc_sum.assign(static_cast<std::size_t>(settings.bins()), 0.0f);
  GHM_CHECK(static_cast<int>(state.acc_sum.size()) == settings.bins(), op, ": the EMA state has ",
            state.acc_sum.size(), " bins, the loss has ", settings.bins());
}

}  // namespace ghm::losses
