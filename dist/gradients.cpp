// broadcast_state and the GradientReducer (gradients.h).
#include "dist/gradients.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>

#include "core/check.h"
#include "core/ops/elementwise.h"

namespace ghm::dist {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

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

GradientReducer::GradientReducer(Communicator& comm, const std::vector<Tensor>& params, std::size_t bucket_bytes)
    : comm_(comm) {
  const std::size_t capacity = std::max<std::size_t>(1, bucket_bytes / sizeof(float));  // floats per bucket
  std::size_t used = capacity;  // start a new bucket for the first parameter
  for (auto p = params.rbegin(); p != params.rend(); ++p) {
    if (!p->requires_grad()) continue;
    GHM_CHECK(p->dtype() == DType::F32, "GradientReducer: a ", dtype_name(p->dtype()), " parameter");
    if (p->device().is_cuda()) {
      device_params_.push_back(*p);
      continue;
    }
    const auto n = static_cast<std::size_t>(p->numel());
    if (buckets_.empty() || (used > 0 && used + n > capacity)) {  // a larger one gets a bucket of its own
      buckets_.emplace_back();
      used = 0;
    }
    buckets_.back().params.push_back(*p);
    bucket_of_[&p->impl()] = buckets_.size() - 1;
    used += n;
  }
  for (Bucket& b : buckets_) {
    std::size_t elements = 0;
    for (const Tensor& p : b.params) elements += static_cast<std::size_t>(p.numel());
    b.buffer.resize(elements);
  }
}

GradReadyScope GradientReducer::overlap() {
  return GradReadyScope([this](const Tensor& leaf) { on_ready(leaf); });
}

void GradientReducer::on_ready(const Tensor& leaf) {
  if (comm_.size() == 1) return;
  const auto it = bucket_of_.find(&leaf.impl());
  if (it == bucket_of_.end()) return;
  ++buckets_[it->second].ready;
  // Buckets start in order on every rank: a full bucket waits for the ones before it.
  while (next_to_start_ < buckets_.size() &&
         buckets_[next_to_start_].ready == static_cast<int>(buckets_[next_to_start_].params.size())) {
    start(buckets_[next_to_start_++]);
    ++step_.started_early;
  }
  comm_.progress();
}

void GradientReducer::start(Bucket& bucket) {
  std::size_t at = 0;
  for (const Tensor& p : bucket.params) {
    const Tensor g = p.grad();
    const auto n = static_cast<std::size_t>(p.numel());
    if (g.defined()) std::memcpy(bucket.buffer.data() + at, g.data<float>(), n * sizeof(float));
    else std::fill_n(bucket.buffer.data() + at, n, 0.0f);  // no gradient this step: zeros
    at += n;
  }
  comm_.start_all_reduce_sum(bucket.buffer);
  bucket.started = true;
  step_.bytes += bucket.buffer.size() * sizeof(float);
  ++step_.calls;
}

ExchangeStats GradientReducer::finish() {
  if (comm_.size() == 1) return {};
  const auto begin = Clock::now();
  while (next_to_start_ < buckets_.size()) start(buckets_[next_to_start_++]);
  comm_.wait_all();
  const float scale = 1.0f / static_cast<float>(comm_.size());
  for (Bucket& bucket : buckets_) {
    std::size_t at = 0;
    for (Tensor& p : bucket.params) {
      const auto n = static_cast<std::size_t>(p.numel());
      const float* mean = bucket.buffer.data() + at;
      Tensor g = p.grad();
      if (!g.defined()) {
        g = Tensor::empty(p.shape());
        p.set_grad(g);
      }
      float* out = g.data<float>();
      for (std::size_t i = 0; i < n; ++i) out[i] = mean[i] * scale;
      at += n;
    }
    bucket.ready = 0;
    bucket.started = false;
  }
  std::vector<Tensor> device_grads;  // every process sends the same tensors: zeros where a step gave none
  for (Tensor p : device_params_) {
    if (!p.grad().defined()) p.set_grad(Tensor::zeros(p.shape(), DType::F32, p.device()));
    device_grads.push_back(p.grad());
  }
  if (!device_grads.empty()) {
    comm_.all_reduce_sum(device_grads);
    ++step_.calls;
    const NoGradGuard no_grad;
    for (Tensor& g : device_grads) {
      step_.bytes += g.nbytes();
      g.copy_from(mul_scalar(g, scale));
    }
  }
  ExchangeStats stats = step_;
  stats.seconds = seconds_since(begin);
  step_ = {};
  next_to_start_ = 0;
  return stats;
}

ExchangeStats average_gradients(Communicator& comm, const std::vector<Tensor>& params, std::size_t bucket_bytes) {
  return GradientReducer(comm, params, bucket_bytes).finish();
}

}  // namespace ghm::dist
