#include "nn/grad_scaler.h"

#include <cmath>
#include <limits>

#include "core/check.h"
#include "nn/optim.h"

namespace ghm::nn {
namespace {

bool power_of_two(double x) {
  int exponent = 0;
  return x > 0 && std::isfinite(x) && std::frexp(x, &exponent) == 0.5;
}

// The float32 range of powers of two: S and 1 / S must both be finite floats.
constexpr double kMinScale = 0x1p-126, kMaxScale = 0x1p127;

}  // namespace

GradScaler::GradScaler(GradScalerConfig config) : config_(config), scale_(config.init_scale) {
  GHM_CHECK(power_of_two(config.init_scale) && config.init_scale >= kMinScale && config.init_scale <= kMaxScale,
            "loss scale ", config.init_scale, " must be a power of two between 2^-126 and 2^127 (exact scaling)");
  GHM_CHECK(config.growth_interval > 0, "loss scale growth interval ", config.growth_interval, " must be positive");
}

double GradScaler::unscale(const std::vector<Tensor>& params) const {
  if (scale_ != 1.0) scale_grads(params, static_cast<float>(1.0 / scale_));
  return grad_norm(params);
}

bool GradScaler::update(double norm) {
  const bool finite = std::isfinite(norm);
  if (!config_.dynamic) return finite;
  if (!finite) {
    scale_ = std::max(kMinScale, scale_ / 2);
    good_steps_ = 0;
    ++skipped_;
    ++skipped_in_a_row_;
    return false;
  }
  skipped_in_a_row_ = 0;
  if (++good_steps_ >= config_.growth_interval) {
    scale_ = std::min(kMaxScale, scale_ * 2);
    good_steps_ = 0;
  }
  return true;
}

void GradScaler::restore(double scale, std::int64_t good_steps) {
  GHM_CHECK(power_of_two(scale) && scale >= kMinScale && scale <= kMaxScale, "loss scale ", scale,
            " is not a power of two between 2^-126 and 2^127");
  GHM_CHECK(good_steps >= 0, "loss scale good steps ", good_steps, " is negative");
  scale_ = scale;
  good_steps_ = good_steps;
  skipped_in_a_row_ = 0;
}

}  // namespace ghm::nn
