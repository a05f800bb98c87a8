#include "nn/init.h"

#include <algorithm>
#include <cmath>

namespace ghm::nn {

void kaiming_normal_fan_out(Tensor& weight, Generator& gen) {
  check_dtype(weight, DType::F32, "kaiming_normal_fan_out", "weight");
  GHM_CHECK(weight.dim() == 4, "kaiming_normal_fan_out: weight must be [O, C/G, KH, KW], got ", weight.shape());
  const double fan_out = static_cast<double>(weight.size(0) * weight.size(2) * weight.size(3));
  normal(weight, 0.0f, static_cast<float>(std::sqrt(2.0 / fan_out)), gen);
}

void normal(Tensor& t, float mean, float stddev, Generator& gen) {
  check_dtype(t, DType::F32, "normal", "t");
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = mean + stddev * gen.normal();
}

void constant(Tensor& t, float value) {
  check_dtype(t, DType::F32, "constant", "t");
  std::fill_n(t.data<float>(), t.numel(), value);
}

float prior_bias(float pi) {
  GHM_CHECK(pi > 0.0f && pi < 1.0f, "prior_bias: probability ", pi, " must be in (0, 1)");
  return static_cast<float>(-std::log((1.0 - pi) / pi));
}

}  // namespace ghm::nn
