#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "core/cpu/parallel.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "nn/cuda/optim_cuda.h"
#endif

namespace ghm::nn {

Sgd::Sgd(std::vector<std::pair<std::string, Tensor>> params, SgdConfig config) : config_(config) {
  GHM_CHECK(config.lr >= 0 && config.momentum >= 0 && config.weight_decay >= 0, "Sgd: lr ", config.lr, ", momentum ",
            config.momentum, " and weight_decay ", config.weight_decay, " must not be negative");
  for (auto& [name, t] : params)
    if (t.requires_grad()) params_.emplace_back(name, t);
  momentum_.resize(params_.size());
}

void Sgd::step(float lr) {
  for (std::size_t k = 0; k < params_.size(); ++k) {
    Tensor p = params_[k].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const float wd = (config_.decay_norm_and_bias || p.dim() > 1) ? config_.weight_decay : 0.0f;
    const float m = config_.momentum;
    const bool first = !momentum_[k].defined();
    if (first && m != 0.0f) momentum_[k] = Tensor::empty(p.shape(), DType::F32, p.device());
    GHM_CHECK(g.device() == p.device(), "Sgd: parameter '", params_[k].first, "' is on ", p.device(),
              " and its gradient on ", g.device());
#if GHM_WITH_CUDA
    if (p.device().is_cuda()) {
      const ghm::cuda::DeviceGuard guard(p.device().index);
      cuda::sgd_update(p.device_data<float>(), g.device_data<float>(),
                       m != 0.0f ? momentum_[k].device_data<float>() : nullptr, p.numel(), lr, wd, m, first);
      continue;
    }
#endif
    float* w = p.data<float>();
    const float* gr = g.data<float>();
    float* buf = m != 0.0f ? momentum_[k].data<float>() : nullptr;
    cpu::parallel_for(p.numel(), cpu::kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
#pragma omp simd
      for (std::int64_t i = b; i < e; ++i) {
        const float d = gr[i] + wd * w[i];
        float v = d;
        if (buf) {
          v = first ? d : m * buf[i] + d;
          buf[i] = v;
        }
        w[i] -= lr * v;
      }
    });
  }
}

void Sgd::zero_grad() {
  for (auto& [n, t] : params_) {
    Tensor handle = t;
    handle.zero_grad();
  }
}

std::vector<std::pair<std::string, Tensor>> Sgd::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (std::size_t k = 0; k < params_.size(); ++k)
    if (momentum_[k].defined()) out.emplace_back("momentum." + params_[k].first, momentum_[k]);
  return out;
}

void Sgd::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  std::map<std::string, Tensor> given(state.begin(), state.end());
  std::vector<Tensor> loaded(params_.size());
  for (std::size_t k = 0; k < params_.size(); ++k) {
    auto it = given.find("momentum." + params_[k].first);
    if (it == given.end()) continue;
    GHM_CHECK(it->second.shape() == params_[k].second.shape() && it->second.dtype() == DType::F32, "Sgd: state '",
              it->first, "' has shape ", it->second.shape(), ", the parameter ", params_[k].second.shape());
    loaded[k] = it->second.detach().to(params_[k].second.device()).clone();
    given.erase(it);
  }
  GHM_CHECK(given.empty(), "Sgd: state has ", given.size(), " entries for no parameter, e.g. '",
            given.empty() ? "" : given.begin()->first, "'");
  momentum_ = std::move(loaded);
}

namespace {

// Every gradient cut into chunks of a fixed size (CPU gradients; the CUDA ones go to the device
// kernels whole).
constexpr std::int64_t kChunk = 1 << 16;
struct Chunk {
  float* data;
  std::int64_t size;
};

std::vector<Chunk> cpu_chunks(const std::vector<Tensor>& params) {
  std::vector<Chunk> chunks;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || !g.device().is_cpu()) continue;
    float* d = g.data<float>();
    for (std::int64_t i = 0; i < g.numel(); i += kChunk) chunks.push_back({d + i, std::min(kChunk, g.numel() - i)});
  }
  return chunks;
}

#if GHM_WITH_CUDA
// The CUDA gradients; empty when there are none. When there are, every gradient must be on their
// device (checked: a CPU gradient would be left out of the norm and the scaling).
std::vector<Tensor> cuda_grads(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads, all;
  for (const Tensor& p : params)
    if (p.grad().defined()) all.push_back(p.grad());
  for (const Tensor& g : all)
    if (g.device().is_cuda()) grads.push_back(g);
  for (const Tensor& g : all)
    GHM_CHECK(grads.empty() || g.device() == grads.front().device(), "gradients on ", grads.front().device(), " and ",
              g.device(), ": the gradient norm needs them on one device");
  return grads;
}
#endif

}  // namespace

double grad_norm(const std::vector<Tensor>& params) {
#if GHM_WITH_CUDA
  if (const std::vector<Tensor> grads = cuda_grads(params); !grads.empty()) {
    const Device device = grads.front().device();
    std::vector<const float*> ptrs;
    std::vector<std::int64_t> sizes;
    for (const Tensor& g : grads) {
      ptrs.push_back(g.device_data<float>());
      sizes.push_back(g.numel());
    }
    const ghm::cuda::DeviceGuard guard(device.index);
    return std::sqrt(cuda::sum_of_squares(ptrs.data(), sizes.data(), static_cast<int>(ptrs.size()), device.index));
  }
#endif
  // The chunks' sums of squares are computed in parallel and added in order, so the norm does not
  // depend on the thread count.
  const std::vector<Chunk> chunks = cpu_chunks(params);
  const auto n = static_cast<std::int64_t>(chunks.size());
  std::vector<double> partial(chunks.size(), 0.0);
  cpu::parallel_for(n, 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      const Chunk& ch = chunks[static_cast<std::size_t>(c)];
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (std::int64_t i = 0; i < ch.size; ++i) s += static_cast<double>(ch.data[i]) * ch.data[i];
      partial[static_cast<std::size_t>(c)] = s;
    }
  });
  double total = 0;
  for (const double s : partial) total += s;
  return std::sqrt(total);
}

void scale_grads(const std::vector<Tensor>& params, float factor) {
#if GHM_WITH_CUDA
  if (const std::vector<Tensor> grads = cuda_grads(params); !grads.empty()) {
    const ghm::cuda::DeviceGuard guard(grads.front().device().index);
    for (Tensor g : grads) cuda::scale_in_place(g.device_data<float>(), g.numel(), factor);
    return;
  }
#endif
  const std::vector<Chunk> chunks = cpu_chunks(params);
  cpu::parallel_for(static_cast<std::int64_t>(chunks.size()), 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      const Chunk& ch = chunks[static_cast<std::size_t>(c)];
      for (std::int64_t i = 0; i < ch.size; ++i) ch.data[i] *= factor;
    }
  });
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  GHM_CHECK(max_norm > 0, "clip_grad_norm: max_norm ", max_norm, " must be positive");
  const double total = grad_norm(params);
  if (total > max_norm) scale_grads(params, static_cast<float>(max_norm / (total + 1e-6)));
  return total;
}

LrSchedule LrSchedule::with_step_epochs(float base_lr, int warmup_iters, float warmup_ratio, float gamma,
                                        const std::vector<int>& step_epochs, std::int64_t per_epoch) {
  LrSchedule s;
  s.base_lr = base_lr;
  s.warmup_iters = warmup_iters;
  s.warmup_ratio = warmup_ratio;
  s.gamma = gamma;
  for (const int e : step_epochs) s.steps.push_back(static_cast<int>(e * per_epoch));
  return s;
}

float LrSchedule::at(int iteration) const {
  GHM_CHECK(iteration >= 0, "LrSchedule: iteration ", iteration, " is negative");
  double lr = base_lr;
  for (int s : steps)
    if (iteration >= s) lr *= gamma;
  if (iteration < warmup_iters) {
    const double k = (1.0 - static_cast<double>(iteration) / warmup_iters) * (1.0 - warmup_ratio);
    lr *= 1.0 - k;
  }
  return static_cast<float>(lr);
}

}  // namespace ghm::nn
