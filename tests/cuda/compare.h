// Comparing a CUDA result with its CPU twin in the GPU suites: the normalised error
// max |cuda - cpu| / max(1, max |cpu|); non-finite CPU values must match exactly (NaN for NaN,
// the same infinity).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/tensor.h"

namespace ghm::testing {

inline double normalised_error(const Tensor& cuda_result, const Tensor& cpu_result) {
  REQUIRE(cuda_result.device().is_cuda());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  const std::vector<float> a = cuda_result.to(Device::cpu()).to_vector<float>(), b = cpu_result.to_vector<float>();
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(b[i])) {
      CHECK((std::isnan(b[i]) ? std::isnan(a[i]) : a[i] == b[i]));
      continue;
    }
    err = std::max(err, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return err / scale;
}

}  // namespace ghm::testing
