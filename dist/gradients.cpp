// broadcast_state and average_gradients (gradients.h).
#include "dist/gradients.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>

#include "core/autograd.h"
#include "core/check.h"
#include "core/ops/elementwise.h"

namespace ghm::dist {
namespace {

// Host gradients summed bucket by bucket, then scaled by `scale`.
class HostBuckets {
 public:
  HostBuckets(Communicator& comm, std::size_t bucket_bytes, float scale, ExchangeStats& stats)
      : comm_(comm), capacity_(std::max<std::size_t>(1, bucket_bytes / sizeof(float))), scale_(scale), stats_(stats) {}

  void add(Tensor g) {
    const auto n = static_cast<std::size_t>(g.numel());
    if (n > capacity_) {  // alone, in place
      reduce({g.data<float>(), n});
      return;
    }
    if (used_ + n > capacity_) flush();
    members_.push_back(g);
    used_ += n;
  }

  void flush() {
    if (members_.empty()) return;
    buffer_.resize(capacity_);
    std::size_t at = 0;
    for (Tensor& g : members_) {
      std::memcpy(buffer_.data() + at, g.data<float>(), static_cast<std::size_t>(g.numel()) * sizeof(float));
      at += static_cast<std::size_t>(g.numel());
    }
    reduce({buffer_.data(), at});
    at = 0;
    for (Tensor& g : members_) {
      std::memcpy(g.data<float>(), buffer_.data() + at, static_cast<std::size_t>(g.numel()) * sizeof(float));
      at += static_cast<std::size_t>(g.numel());
    }
    members_.clear();
    used_ = 0;
  }

 private:
  void reduce(std::span<float> data) {
    comm_.all_reduce_sum(data);
    for (float& x : data) x *= scale_;
    stats_.bytes += data.size_bytes();
    ++stats_.calls;
  }

  Communicator& comm_;
  std::size_t capacity_;  // floats per bucket
  float scale_;
  ExchangeStats& stats_;
  std::vector<float> buffer_;
  std::vector<Tensor> members_;  // the gradients of the bucket being filled, in order
  std::size_t used_ = 0;
};

}  // namespace

void broadcast_state(Communicator& comm, const std::vector<Tensor>& tensors) {
  if (comm.size() == 1) return;
  for (Tensor t : tensors) {
    if (t.dtype() == DType::F32) {
      comm.broadcast(t, 0);
      continue;
    }
    // Integer buffers (a batch-norm step counter): bytes, through the host.
    GHM_CHECK(t.device().is_cpu(), "broadcast_state: a ", dtype_name(t.dtype()), " tensor on ", t.device(),
              " (only f32 tensors may live on a GPU here)");
    comm.broadcast(std::span<std::byte>(static_cast<std::byte*>(t.raw_data()), t.nbytes()), 0);
  }
}

ExchangeStats average_gradients(Communicator& comm, const std::vector<Tensor>& params, std::size_t bucket_bytes) {
  ExchangeStats stats;
  if (comm.size() == 1) return stats;
  const auto start = std::chrono::steady_clock::now();
  const float scale = 1.0f / static_cast<float>(comm.size());
  HostBuckets host(comm, bucket_bytes, scale, stats);
  std::vector<Tensor> device_grads;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.device().is_cuda()) {
      device_grads.push_back(g);
    } else {
      host.add(g);
    }
  }
  host.flush();
  if (!device_grads.empty()) {
    comm.all_reduce_sum(device_grads);
    ++stats.calls;
    const NoGradGuard no_grad;
    for (Tensor& g : device_grads) {
      stats.bytes += g.nbytes();
      g.copy_from(mul_scalar(g, scale));
    }
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace ghm::dist
