// SGD with momentum and weight decay (PyTorch's semantics), gradient clipping by global norm, and
// the detection learning-rate schedule (linear warmup, then step decay), as mmdetection runs them.
//
//   SGD step, per parameter p with gradient g (PyTorch, dampening 0, not Nesterov):
//     d = g + wd * p;   buf = d (first step) or momentum * buf + d;   p -= lr * buf
//   clip:  total = sqrt(sum of |g|^2 over all parameters); if total > max_norm: g *= max_norm / (total + 1e-6)
//   lr(it) = base * gamma^(#steps <= it) * warm(it),
//     warm(it) = 1 - (1 - it / warmup_iters) * (1 - warmup_ratio)  for it < warmup_iters, else 1
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace ghm::nn {

struct SgdConfig {
  float lr = 0.01f;
  float momentum = 0.9f;
  float weight_decay = 1e-4f;
  bool decay_norm_and_bias = true;  // false: no weight decay on 1-D parameters (norm weights, biases)
};

class Sgd {
 public:
  // params: named parameters (Module::named_parameters()); frozen ones (no requires_grad) are skipped.
  Sgd(std::vector<std::pair<std::string, Tensor>> params, SgdConfig config);
  void step(float lr);  // parameters without a gradient this step are left untouched
  void zero_grad();
  // Momentum buffers by name ("momentum.<param>"), for checkpoints; load restores them exactly.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state);
  const SgdConfig& config() const { return config_; }

 private:
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<Tensor> momentum_;  // undefined until the first step that sees a gradient
  SgdConfig config_;
};

// The global L2 norm of the parameters' gradients: sqrt(sum of g^2) in double, in a fixed order
// (independent of the thread count); inf or NaN when any gradient element is.
double grad_norm(const std::vector<Tensor>& params);
// g *= factor for every gradient.
void scale_grads(const std::vector<Tensor>& params, float factor);
// Scales all gradients so that their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

struct LrSchedule {
  float base_lr = 0.01f;
  int warmup_iters = 500;
  float warmup_ratio = 1.0f / 3.0f;
  std::vector<int> steps;  // iterations at which lr is multiplied by gamma
  float gamma = 0.1f;

  float at(int iteration) const;
  // Steps at the starts of the given epochs of per_epoch iterations each.
  static LrSchedule with_step_epochs(float base_lr, int warmup_iters, float warmup_ratio, float gamma,
                                     const std::vector<int>& step_epochs, std::int64_t per_epoch);
};

}  // namespace ghm::nn
