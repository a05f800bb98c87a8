#include "losses/class_targets.h"

#include <span>
#include <vector>

namespace ghm::losses {

void check_class_targets(const Tensor& pred, const Tensor& target, const Tensor& label_weight, const char* op) {
  check_dtype(pred, DType::F32, op, "pred");
  GHM_CHECK(pred.dim() == 2, op, ": pred must be [N, K], got ", pred.shape());
  const std::int64_t n = pred.size(0);
  check_defined(target, op, "target");
  if (target.dtype() == DType::F32) {
    GHM_CHECK(target.shape() == pred.shape(), op, ": one-hot target ", target.shape(), " must match pred ", pred.shape());
  } else {
    GHM_CHECK(target.dtype() == DType::I64 || target.dtype() == DType::I32, op,
              ": target must be one-hot f32 [N, K] or labels i32/i64 [N], got ", target.dtype(), " ", target.shape());
    GHM_CHECK(target.dim() == 1 && target.size(0) == n, op, ": labels ", target.shape(), " must be [", n, "]");
  }
  check_dtype(label_weight, DType::F32, op, "label_weight");
  GHM_CHECK(label_weight.shape() == pred.shape() || (label_weight.dim() == 1 && label_weight.size(0) == n), op,
            ": label_weight ", label_weight.shape(), " must be [N, K] = ", pred.shape(), " or [N] = [", n, "]");
  GHM_CHECK(target.device() == pred.device() && label_weight.device() == pred.device(), op, ": pred on ",
            pred.device(), ", target on ", target.device(), " and label_weight on ", label_weight.device(),
            " must be on one device");
}

ClassTargets make_class_targets(const Tensor& pred, const Tensor& target, const Tensor& label_weight, const char* op) {
  check_class_targets(pred, target, label_weight, op);
  ClassTargets t;
  t.n = pred.size(0);
  t.k = pred.size(1);
  if (target.dtype() == DType::F32) {
    t.onehot = target.data<float>();
  } else {
    t.label_storage = target.dtype() == DType::I64 ? target : target.to(DType::I64);
    t.labels = t.label_storage.data<std::int64_t>();
  }
  t.weight_per_row = label_weight.dim() == 1;
  t.weight = label_weight.data<float>();
  return t;
}

DeviceClassTargets make_device_class_targets(const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                                             const char* op) {
  check_class_targets(pred, target, label_weight, op);
  DeviceClassTargets t;
  t.n = pred.size(0);
  t.k = pred.size(1);
  if (target.dtype() == DType::F32) t.onehot = target.device_data<float>();
  else if (target.dtype() == DType::I32) t.labels32 = target.device_data<std::int32_t>();
  else t.labels64 = target.device_data<std::int64_t>();
  t.weight_per_row = label_weight.dim() == 1;
  t.weight = label_weight.device_data<float>();
  return t;
}

std::vector<std::int64_t> call_rows(std::span<const std::int64_t> level_rows, std::int64_t n, const char* op) {
  if (level_rows.empty()) return {0, n};
  GHM_CHECK(level_rows.size() >= 2 && level_rows.front() == 0 && level_rows.back() == n, op,
            ": level row offsets must start at 0 and end at N = ", n);
  for (std::size_t i = 1; i < level_rows.size(); ++i)
    GHM_CHECK(level_rows[i] >= level_rows[i - 1], op, ": level row offsets must not decrease (", level_rows[i - 1],
              " then ", level_rows[i], ")");
  return {level_rows.begin(), level_rows.end()};
}

}  // namespace ghm::losses
