// broadcast_state and the GradientReducer (gradients.h).
#include "dist/gradients.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>

#include "core/bfloat16.h"
#include "core/check.h"
#include "core/ops/elementwise.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/half_cuda.h"
#endif

namespace ghm::dist {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

#if GHM_WITH_CUDA
// p.grad(), made zeros first when the step gave p none.
Tensor grad_or_zeros(Tensor& p) {
  if (!p.grad().defined()) p.set_grad(Tensor::zeros(p.shape(), DType::F32, p.device()));
  return p.grad();
}
#endif

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

GradientReducer::GradientReducer(Communicator& comm, const std::vector<Tensor>& params, const ReducerOptions& options)
    : comm_(comm), options_(options) {
  GHM_CHECK(options_.wire == Precision::F32 || options_.wire == Precision::BF16,
            "gradients travel as fp32 or bf16, not ", precision_name(options_.wire));
  const std::size_t capacity = std::max<std::size_t>(1, options_.bucket_bytes / sizeof(float));  // floats per bucket
  std::size_t used[2] = {capacity, capacity};  // start a new bucket for the first parameter of each side
  for (auto p = params.rbegin(); p != params.rend(); ++p) {
    if (!p->requires_grad()) continue;
    GHM_CHECK(p->dtype() == DType::F32, "GradientReducer: a ", dtype_name(p->dtype()), " parameter");
    const Side side = p->device().is_cuda() ? kDevice : kHost;
    if (side == kDevice) {
      GHM_CHECK(device_index_ < 0 || device_index_ == p->device().index, "GradientReducer: parameters on cuda:",
                device_index_, " and ", p->device(), " (one GPU per process)");
      device_index_ = p->device().index;
    }
    std::vector<Bucket>& list = side == kHost ? host_ : device_;
    const auto n = static_cast<std::size_t>(p->numel());
    if (list.empty() || (used[side] > 0 && used[side] + n > capacity)) {  // a larger one gets a bucket of its own
      list.emplace_back();
      used[side] = 0;
    }
    list.back().params.push_back(*p);
    list.back().elements += n;
    bucket_of_[&p->impl()] = {side, list.size() - 1};
    used[side] += n;
  }
  for (Bucket& b : host_) {
    if (options_.wire == Precision::F32) b.host.resize(b.elements);
    else b.host16.resize(b.elements);
  }
  if (options_.wire == Precision::BF16 && active())  // a lone process sends nothing: no copies
    for (Bucket& b : device_)
      b.device16 = Tensor::empty(Shape{static_cast<std::int64_t>(2 * b.elements)}, DType::U8, Device::cuda(device_index_));
}

GradReadyScope GradientReducer::overlap() {
  return GradReadyScope([this](const Tensor& leaf) { on_ready(leaf); });
}

void GradientReducer::on_ready(const Tensor& leaf) {
  if (!active() || !options_.overlap) return;
  const auto it = bucket_of_.find(&leaf.impl());
  if (it == bucket_of_.end()) return;
  const auto [side, index] = it->second;
  std::vector<Bucket>& list = side == kHost ? host_ : device_;
  ++list[index].ready;
  // Buckets start in order on every rank: a full bucket waits for the ones before it.
  std::size_t& next = next_to_start_[side];
  while (next < list.size() && list[next].ready == static_cast<int>(list[next].params.size())) {
    start(side, list[next++]);
    ++step_.started_early;
  }
  if (side == kHost) comm_.progress();
}

void GradientReducer::start(Side side, Bucket& bucket) {
  if (side == kHost) start_host(bucket);
  else start_device(bucket);
  step_.bytes += bucket.elements * (options_.wire == Precision::F32 ? 4 : 2);
  ++step_.calls;
}

void GradientReducer::start_host(Bucket& bucket) {
  const bool f32 = options_.wire == Precision::F32;
  std::size_t at = 0;
  for (const Tensor& p : bucket.params) {
    const Tensor g = p.grad();
    const auto n = static_cast<std::size_t>(p.numel());
    const float* x = g.defined() ? g.data<float>() : nullptr;  // none this step: zeros
    if (f32 && x != nullptr) std::memcpy(bucket.host.data() + at, x, n * sizeof(float));
    else if (f32) std::fill_n(bucket.host.data() + at, n, 0.0f);
    else for (std::size_t i = 0; i < n; ++i) bucket.host16[at + i] = x != nullptr ? float_to_bf16(x[i]) : 0;
    at += n;
  }
  if (f32) comm_.start_all_reduce_sum(bucket.host);
  else comm_.start_all_reduce_sum_bf16(bucket.host16);
}

void GradientReducer::start_device(Bucket& bucket) {
#if GHM_WITH_CUDA
  const cuda::DeviceGuard guard(device_index_);  // the conversions run on the parameters' GPU
  std::vector<void*> buffers;
  std::vector<std::size_t> sizes;
  std::size_t at = 0;
  for (Tensor& p : bucket.params) {
    Tensor g = grad_or_zeros(p);
    const auto n = static_cast<std::size_t>(p.numel());
    if (options_.wire == Precision::F32) {  // summed in place
      buffers.push_back(g.raw_device_data());
      sizes.push_back(n);
    } else {  // narrowed into the bucket's copy, on the stream of the kernels that made it
      cuda::float_to_low(static_cast<const float*>(g.raw_device_data()),
                         static_cast<std::uint16_t*>(bucket.device16.raw_device_data()) + at,
                         static_cast<std::int64_t>(n), Precision::BF16);
    }
    at += n;
  }
  if (options_.wire == Precision::BF16) {
    buffers.push_back(bucket.device16.raw_device_data());
    sizes.push_back(bucket.elements);
  }
  comm_.start_device_all_reduce_sum(buffers, sizes, options_.wire, device_index_);
#else
  (void)bucket;
  GHM_FAIL("GradientReducer: a CUDA parameter in a build without CUDA");
#endif
}

void GradientReducer::finish_host(Bucket& bucket, float scale) {
  std::size_t at = 0;
  for (Tensor& p : bucket.params) {
    const auto n = static_cast<std::size_t>(p.numel());
    Tensor g = p.grad();
    if (!g.defined()) {
      g = Tensor::empty(p.shape());
      p.set_grad(g);
    }
    float* out = g.data<float>();
    if (options_.wire == Precision::F32) {
      for (std::size_t i = 0; i < n; ++i) out[i] = bucket.host[at + i] * scale;
    } else {
      for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_float(bucket.host16[at + i]) * scale;
    }
    at += n;
  }
}

void GradientReducer::finish_device(Bucket& bucket, float scale) {
#if GHM_WITH_CUDA
  const cuda::DeviceGuard guard(device_index_);
  const NoGradGuard no_grad;
  std::size_t at = 0;
  for (Tensor& p : bucket.params) {
    Tensor g = p.grad();
    const auto n = static_cast<std::size_t>(p.numel());
    if (options_.wire == Precision::BF16)
      cuda::low_to_float(static_cast<const std::uint16_t*>(bucket.device16.raw_device_data()) + at,
                         static_cast<float*>(g.raw_device_data()), static_cast<std::int64_t>(n), Precision::BF16);
    if (scale != 1.0f) g.copy_from(mul_scalar(g, scale));
    at += n;
  }
#else
  (void)bucket, (void)scale;
#endif
}

ExchangeStats GradientReducer::finish() {
  if (!active()) return {};
  const auto begin = Clock::now();
  while (next_to_start_[kHost] < host_.size()) start(kHost, host_[next_to_start_[kHost]++]);
  while (next_to_start_[kDevice] < device_.size()) start(kDevice, device_[next_to_start_[kDevice]++]);
  comm_.wait_all();
  if (!device_.empty()) comm_.wait_device(device_index_);
  const float scale = 1.0f / static_cast<float>(comm_.size());
  for (Bucket& bucket : host_) finish_host(bucket, scale);
  for (Bucket& bucket : device_) finish_device(bucket, scale);
  for (std::vector<Bucket>* list : {&host_, &device_})
    for (Bucket& bucket : *list) bucket.ready = 0;
  ExchangeStats stats = step_;
  stats.seconds = seconds_since(begin);
  step_ = {};
  next_to_start_[kHost] = next_to_start_[kDevice] = 0;
  return stats;
}

ExchangeStats average_gradients(Communicator& comm, const std::vector<Tensor>& params, std::size_t bucket_bytes) {
  return GradientReducer(comm, params, ReducerOptions{.bucket_bytes = bucket_bytes}).finish();
}

}  // namespace ghm::dist
