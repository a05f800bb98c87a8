// The layers a RetinaNet is built from. Each is a Module with one input and one output.
#pragma once

#include <memory>
#include <vector>

#include "core/ops/conv.h"
#include "core/ops/norm.h"
#include "core/ops/pool.h"
#include "core/random.h"
#include "nn/module.h"

namespace ghm::nn {

class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

enum class Bias : bool { No, Yes };

// weight [O, C/groups, K, K] (kaiming normal, fan out), bias [O] (zeros) when asked.
class Conv2d : public UnaryModule {
 public:
  Conv2d(std::int64_t in, std::int64_t out, int kernel, int stride, int pad, Bias bias, Generator& gen, int groups = 1,
         int dilation = 1);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  Conv2dParams params;
};

// Batch norm with trained affine weight/bias and running statistics (buffers); uses batch
// statistics in training mode and the running ones in evaluation mode.
class BatchNorm2d : public UnaryModule {
 public:
  explicit BatchNorm2d(std::int64_t channels, float momentum = 0.1f, float eps = 1e-5f);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var;
  float momentum, eps;
  std::shared_ptr<const BatchNormSync> sync;  // training statistics over several processes, when set
};

// torchvision's FrozenBatchNorm2d: the same four tensors, all buffers, never updated.
class FrozenBatchNorm2d : public UnaryModule {
 public:
  explicit FrozenBatchNorm2d(std::int64_t channels, float eps = 1e-5f);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var;
  float eps;
};

// Group norm with a trained per-channel weight (ones) and bias (zeros).
class GroupNorm : public UnaryModule {
 public:
  GroupNorm(int groups, std::int64_t channels, float eps = 1e-5f);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  int groups;
  float eps;
};

// A fully connected layer as torch.nn.Linear: y [N, out] = x [N, in] weight^T + bias, with weight
// [out, in] ~ N(0, 0.01^2) and bias 0 (the classifier's fc; torchvision's box head starts from
// PyTorch's default uniform initialisation instead, which training it will need). forward copies
// weight^T for the product: 51 MB per call for a 12544 x 1024 fc6.
class Linear : public UnaryModule {
 public:
  Linear(std::int64_t in, std::int64_t out, Generator& gen);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

class ReLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override;
};

class MaxPool2d : public UnaryModule {
 public:
  explicit MaxPool2d(Pool2dParams p) : params(p) {}
  Tensor forward(const Tensor& x) override;
  Pool2dParams params;
};

// Children named "0", "1", ... run in order.
class Sequential : public UnaryModule {
 public:
  Sequential& add(std::shared_ptr<UnaryModule> m);
  Tensor forward(const Tensor& x) override;
  std::size_t size() const { return layers_.size(); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

// SyncBatchNorm makes BatchNorm2d layers, whose statistics span a data-parallel job's processes
// once the trainer gives them the job's BatchNormSync (attach_batch_norm_sync); alone they are
// batch norm.
enum class NormKind { BatchNorm, FrozenBatchNorm, SyncBatchNorm };
std::shared_ptr<UnaryModule> make_norm(NormKind kind, std::int64_t channels);

// Gives every BatchNorm2d in `module`'s tree `sync` (core/ops/norm.h); returns how many.
int attach_batch_norm_sync(Module& module, const std::shared_ptr<const BatchNormSync>& sync);

// relu?(norm?(conv(x))), computed in as few passes over the output as the layers allow: a frozen
// batch norm is folded into the convolution (weights W * scale, bias b * scale + shift, with W's
// gradient flowing through the product), and the ReLU is fused into the convolution's output
// pass (conv2d_relu). Any other norm runs as its own layer. norm may be null.
Tensor conv_norm_relu(const Conv2d& conv, UnaryModule* norm, bool relu, const Tensor& x);

}  // namespace ghm::nn
