// The autograd side of a fused loss: the kernel has already computed the loss value and dL/dpred,
// so the op's output is a [] tensor whose backward only scales that stored gradient by the
// upstream gradient (no second pass over the inputs).
#pragma once

#include "core/tensor.h"

namespace ghm::losses {

// grad: dL/dpred for an upstream gradient of 1, shape of pred. The value is known on the host.
Tensor fused_loss_output(double value, const Tensor& pred, const Tensor& grad, const char* name);

// The same with the value already in a [] f32 tensor on pred's device (a CUDA loss writes it
// there, so neither the forward nor the backward waits for the device).
Tensor fused_loss_output(const Tensor& value, const Tensor& pred, const Tensor& grad, const char* name);

}  // namespace ghm::losses
