// batch_norm_sync (sync_batch_norm.h).
#include "dist/sync_batch_norm.h"

#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"

namespace ghm::dist {
namespace {

// This process's statistics as bytes: [count (i64)][mean (C f32)][var (C f32)].
std::string pack(std::int64_t count, const std::vector<float>& mean, const std::vector<float>& var) {
  std::string out(sizeof count + (mean.size() + var.size()) * sizeof(float), '\0');
  std::memcpy(out.data(), &count, sizeof count);
  std::memcpy(out.data() + sizeof count, mean.data(), mean.size() * sizeof(float));
  std::memcpy(out.data() + sizeof count + mean.size() * sizeof(float), var.data(), var.size() * sizeof(float));
  return out;
}

}  // namespace

BatchNormSync batch_norm_sync(Communicator& comm) {
  BatchNormSync sync;
  sync.combine = [&comm](Tensor& mean, Tensor& var, std::int64_t count) {
    const std::vector<float> m = mean.to(Device::cpu()).to_vector<float>();
    const std::vector<float> v = var.to(Device::cpu()).to_vector<float>();
    const std::size_t c = m.size();
    const std::vector<std::string> parts = comm.all_gather(pack(count, m, v));
    std::vector<double> total_mean(c, 0.0), m2(c, 0.0);
    std::int64_t total = 0;
    std::vector<float> rm(c), rv(c);
    for (const std::string& part : parts) {  // rank order: the same sums on every process
      GHM_CHECK(part.size() == sizeof(std::int64_t) + 2 * c * sizeof(float), "sync batch norm: a process has ",
                (part.size() - sizeof(std::int64_t)) / (2 * sizeof(float)), " channels where this one has ", c);
      std::int64_t n = 0;
      std::memcpy(&n, part.data(), sizeof n);
      std::memcpy(rm.data(), part.data() + sizeof n, c * sizeof(float));
      std::memcpy(rv.data(), part.data() + sizeof n + c * sizeof(float), c * sizeof(float));
      for (std::size_t k = 0; k < c; ++k) total_mean[k] += static_cast<double>(n) * rm[k];
      total += n;
    }
    for (std::size_t k = 0; k < c; ++k) total_mean[k] /= static_cast<double>(total);
    for (const std::string& part : parts) {
      std::int64_t n = 0;
      std::memcpy(&n, part.data(), sizeof n);
      std::memcpy(rm.data(), part.data() + sizeof n, c * sizeof(float));
      std::memcpy(rv.data(), part.data() + sizeof n + c * sizeof(float), c * sizeof(float));
      for (std::size_t k = 0; k < c; ++k) {
        const double d = rm[k] - total_mean[k];
        m2[k] += static_cast<double>(n) * (rv[k] + d * d);
      }
    }
    std::vector<float> out_mean(c), out_var(c);
    for (std::size_t k = 0; k < c; ++k) {
      out_mean[k] = static_cast<float>(total_mean[k]);
      out_var[k] = static_cast<float>(m2[k] / static_cast<double>(total));
    }
    mean.copy_from(Tensor::from_vector(out_mean, mean.shape()));
    var.copy_from(Tensor::from_vector(out_var, var.shape()));
    return total;
  };
  sync.sum = [&comm](Tensor& t) { comm.all_reduce_sum(t); };
  return sync;
}

}  // namespace ghm::dist
