// SavedActivation: a tensor an op keeps for its backward, in 16 bits under bf16 autocast.
//
// Much of the memory a training step holds is what the forward pass keeps for backward: each
// convolution's input and each ReLU's output. Under an AutocastScope of bf16 (train.precision:
// bf16, core/precision.h) an op's float32 output is kept as bfloat16 bits instead (round
// to nearest, ties to even; core/bfloat16.h), half the bytes, and `get()` widens it back to float32
// (exact) when backward runs. That changes no bit of any gradient, but in two corners:
//
//   conv2d's input x, read by the weight gradient     in bf16 that pass reads x rounded to bf16
//                                                     anyway (core/ops/conv.cpp), and rounding a
//                                                     rounded value changes nothing (a float32
//                                                     subnormal x, below 2^-126, may differ: oneDNN's
//                                                     conversion instruction flushes those to 0)
//   ReLU outputs y (conv2d_relu, relu, add_relu),     bf16(y) > 0 exactly when y > 0, but for
//   read as the mask y > 0                            0 < y <= 2^-134, which rounds to 0 (bf16 has
//                                                     float32's exponent range)
//
// Only those ops keep SavedActivations. Batch and group norm keep their inputs in float32: their
// backward recomputes x_hat = (x - mean) / std from x, and a rounded x would change the gradient
// (PyTorch's autocast keeps them in 16 bits and accepts that; we keep training's bits). So a model
// of convolutions, frozen batch norm (folded into the convolutions) and ReLUs, as R50-FPN RetinaNet,
// keeps half the bytes; a head with group norm keeps each norm's input in float32.
//
// On CUDA the same holds in the precision its convolutions read: bf16, or fp16 under an fp16 scope,
// where the mask is not exact: 0 < y <= 2^-25 rounds to 0 (fp16's smallest subnormal is 2^-24),
// about one element in 10^8 of a ReLU output that is a float32 sum, so about one mask element per
// step of R50 at 2 x 512x512 (fp16's own activations lose those values too). Kept as they are
// whatever the scope says: parameters and any leaf that requires grad (their float32 master stays
// alive anyway, so a copy would only add memory), integer tensors, CPU tensors under fp16 (which
// the CPU refuses), and everything outside a bf16 or fp16 scope (fp32 training keeps the tensor
// itself: shared storage, no copy). Where an op keeps a float32 tensor that another keeps packed
// (matmul's input after a ReLU in Faster R-CNN's box head), both copies live: 1.5 times the bytes.
//
// One activation kept by several ops (a ReLU's output is also the next convolution's input) is
// packed once per precision: a table on this thread maps each float32 storage to its 16-bit copy
// for as long as both are alive, so the ops share the copy and the float32 block is freed when the
// forward moves on. The table holds neither (weak references) and drops entries whose storage is
// gone. It relies on what the engine guarantees: no op writes in place into a tensor another op may
// have kept (parameters, buffers, statistics and gradients are the only tensors written in place,
// and none of them is ever packed).
#pragma once

#include <memory>

#include "core/precision.h"
#include "core/shape.h"
#include "core/storage.h"
#include "core/tensor.h"

namespace ghm {

class SavedActivation {
 public:
  SavedActivation() = default;  // nothing kept: defined() is false
  // Keeps `t` (detached from the graph): its 16-bit copy when the rules above say so, else itself.
  explicit SavedActivation(const Tensor& t);

  bool defined() const { return full_.defined() || bits_ != nullptr; }
  bool packed() const { return bits_ != nullptr; }  // kept in 16 bits (bf16, or fp16 on CUDA)
  const Shape& shape() const { return shape_; }
  // The kept values as a float32 tensor of the saved shape: the tensor itself, or the bf16 copy
  // widened into a new tensor (freed with the caller's handle).
  Tensor get() const;
  // A ReLU's backward from its kept output: dy where the kept value is > 0, else 0. On the CPU it
  // reads the packed bits directly (no widened copy). Only for packed activations (callers use
  // their op's kernel otherwise). dy: [the saved shape] float32 on the activation's device.
  Tensor relu_backward_packed(const Tensor& dy) const;

 private:
  Tensor full_;                    // when kept as is
  std::shared_ptr<Storage> bits_;  // [numel] 16-bit values when packed, on the activation's device
  Shape shape_;
  Precision precision_ = Precision::F32;  // of bits_: bf16 or fp16; fp32 when kept as is
};

// Keeps `t` only when `keep` (an op keeps a tensor only for the inputs that need a gradient).
inline SavedActivation save_if(bool keep, const Tensor& t) { return keep ? SavedActivation(t) : SavedActivation(); }

// The precision a tensor saved now would be kept in (the rules above, for `t`): bf16, fp16, or fp32
// for the tensor itself.
Precision packed_precision(const Tensor& t);

}  // namespace ghm
