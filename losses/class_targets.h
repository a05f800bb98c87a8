// Targets and label weights of the classification losses, in either of the forms detectors use:
//
//   target:        one-hot f32 [N, K], or labels [N] (i32/i64) where a label in [0, K) marks that
//                  class and anything else (K = background, or negative) gives an all-zero row
//   label_weight:  f32 [N, K], or [N] shared by the K classes of a row
//
// ClassTargets reads either form without materialising a one-hot matrix.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace ghm::losses {

struct ClassTargets {
  std::int64_t n = 0, k = 0;
  const float* onehot = nullptr;        // [N, K], or null when labels are given
  const std::int64_t* labels = nullptr; // [N], or null
  const float* weight = nullptr;        // [N, K] or [N]
  bool weight_per_row = false;
  Tensor label_storage;                 // labels converted to i64 when given as i32

  float y(std::int64_t row, std::int64_t col) const {
    return onehot ? onehot[row * k + col] : (labels[row] == col ? 1.0f : 0.0f);
  }
  float w(std::int64_t row, std::int64_t col) const { return weight_per_row ? weight[row] : weight[row * k + col]; }
};

// The same inputs as raw addresses on the tensors' device, for the CUDA kernels (which read
// labels of either integer type in place).
struct DeviceClassTargets {
  std::int64_t n = 0, k = 0;
  const float* onehot = nullptr;           // [N, K], or null when labels are given
  const std::int32_t* labels32 = nullptr;  // [N] i32 labels, or null
  const std::int64_t* labels64 = nullptr;  // [N] i64 labels, or null
  const float* weight = nullptr;           // [N, K] or [N]
  bool weight_per_row = false;
};

// Validates shapes, dtypes and devices (errors name `op`, the argument and the shapes).
void check_class_targets(const Tensor& pred, const Tensor& target, const Tensor& label_weight, const char* op);

// Validates (check_class_targets) and reads CPU tensors.
ClassTargets make_class_targets(const Tensor& pred, const Tensor& target, const Tensor& label_weight, const char* op);

// Validates and takes the device addresses of tensors on any one device (a CUDA device in practice).
DeviceClassTargets make_device_class_targets(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                                             const char* op);

// Row offsets [L + 1] of the calls: the given level offsets (validated against N), or {0, N}.
std::vector<std::int64_t> call_rows(std::span<const std::int64_t> level_rows, std::int64_t n, const char* op);

}  // namespace ghm::losses
