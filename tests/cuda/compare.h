// Comparing a CUDA result with its CPU twin in the GPU suites:
//   normalised_error: max |cuda - cpu| / max(1, max |cpu|); non-finite CPU values must match
//     exactly (NaN for NaN, the same infinity);
//   bit_identical: the same shape, element type and bytes (NaN payloads and the sign of zero
//     included), for results that only move or select values, and for run-to-run determinism.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
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

// Both undefined, or equal bytes; either tensor may be on any device.
inline bool bit_identical(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ha = a.detach().to(Device::cpu()), hb = b.detach().to(Device::cpu());
  return a.nbytes() == 0 || std::memcmp(ha.raw_data(), hb.raw_data(), a.nbytes()) == 0;
}

}  // namespace ghm::testing
