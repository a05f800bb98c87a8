// The settings of one GHM loss (GHM-C or GHM-R), made and checked once where they come from (a
// config section, command-line options, code) and then passed unchanged to the CPU driver
// (losses/cpu/ghm_cpu.h) and, by value, into the CUDA kernels (losses/cuda/ghm_cuda.cu), which
// assume them valid. The reference's values (docs/losses.md):
//
//   field        GHM-C                              GHM-R
//   bins M       1..kMaxGhmBins (10 by default)     the same
//   momentum m   [0, 1), 0 = no EMA                 the same
//   loss_weight  >= 0, multiplies the loss          the same
//   mu           -                                  > 0, ASL1(d) = sqrt(d^2 + mu^2) - mu
//   last edge    1 + 1e-6 in float32                1e3 (g == 1 in float32 is still binned)
//   tot          #valid elements                    sum of the valid label weights
//
// The last edge and the tot rule follow from the kind; they are fields so that the kernels read
// them as they read the others.
#pragma once

#include <string>

#include "core/ops/elementwise_math.h"
#include "losses/ghm_math.h"
#include "losses/ghm_state.h"

namespace ghm::losses {

enum class GhmKind : unsigned char { Classification, Regression };  // GHM-C, GHM-R

// What the normaliser tot counts: the valid elements (GHM-C) or their label weights (GHM-R).
enum class GhmTot : unsigned char { CountValid, SumWeights };

// How errors name each field: a config key with its location ("x.yaml at $.loss.cls.bins"), an
// option ("--bins"). An empty name becomes "GHM-C bins" (or GHM-R, momentum, ...).
struct GhmSettingNames {
  std::string bins, momentum, loss_weight, mu;
};

// Valid by construction: only the two factories make one, and they throw ghm::Error naming the
// field (as `names` spells it) and the value when a field is out of range. Trivially copyable, so
// that kernels take it by value.
class GhmSettings {
 public:
  // GHM-C. bins in [1, kMaxGhmBins], momentum in [0, 1), loss_weight finite and >= 0.
  static GhmSettings classification(int bins = 10, double momentum = 0.0, float loss_weight = 1.0f,
                                    const GhmSettingNames& names = {});
  // GHM-R: as GHM-C, and mu finite and > 0.
  static GhmSettings regression(float mu = 0.02f, int bins = 10, double momentum = 0.0, float loss_weight = 1.0f,
                                const GhmSettingNames& names = {});

  GHM_HD GhmKind kind() const { return kind_; }
  GHM_HD int bins() const { return bins_; }
  // A double, as the reference's Python float: (1 - m) * R is rounded once (ghm_ema_update).
  GHM_HD double momentum() const { return momentum_; }
  GHM_HD bool has_momentum() const { return momentum_ > 0.0; }
  GHM_HD float loss_weight() const { return loss_weight_; }
  GHM_HD float mu() const { return mu_; }
  // f32(mu * mu) with the product in double, as the reference rounds it (GHM-R).
  GHM_HD float mu_squared() const {
    return static_cast<float>(static_cast<double>(mu_) * static_cast<double>(mu_));
  }
  GHM_HD float last_edge() const { return last_edge_; }
  GHM_HD GhmTot tot_rule() const { return tot_rule_; }

  const char* name() const { return kind_ == GhmKind::Classification ? "GHM-C" : "GHM-R"; }

 private:
  // The fields as given (checked by the factory); the last edge and the tot rule from the kind.
  GhmSettings(GhmKind kind, int bins, double momentum, float loss_weight, float mu);

  GhmKind kind_;
  int bins_;
  double momentum_;
  float loss_weight_;
  float mu_;  // 0 for GHM-C
  float last_edge_;
  GhmTot tot_rule_;
};

// The checks at the start of a GHM loss `op` (ghm_c_loss, ghm_r_loss): `settings` are of `kind`,
// and the EMA state fits them. With momentum, an empty state becomes [bins] zeros (a fresh EMA);
// a state of another size is an error, not a silent resize.
void check_ghm_call(const GhmSettings& settings, GhmKind kind, GhmEmaState& state, const char* op);

}  // namespace ghm::losses
