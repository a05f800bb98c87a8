#include "core/saved_activation.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/bfloat16.h"
#include "core/cpu/parallel.h"
#include "core/ops/elementwise_math.h"
#include "core/precision.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/elementwise_cuda.h"
#include "core/cuda/half_cuda.h"
#endif

namespace ghm {
namespace {

// One packed activation: its float32 storage and 16-bit copy, both weakly held.
struct PackedEntry {
  std::weak_ptr<Storage> source;
  std::weak_ptr<Storage> bits;
  std::int64_t numel = 0;
  Precision precision = Precision::BF16;  // of bits: a storage kept under bf16 and fp16 gets a copy of each
};

thread_local std::vector<PackedEntry> t_packed;

// The live copy of `source` (numel elements) in `precision`, or null; drops entries whose storage is gone.
std::shared_ptr<Storage> find_packed(const std::shared_ptr<Storage>& source, std::int64_t numel, Precision precision) {
  std::erase_if(t_packed, [](const PackedEntry& e) { return e.source.expired() || e.bits.expired(); });
  for (const PackedEntry& e : t_packed)
    if (e.numel == numel && e.precision == precision && e.source.lock() == source) return e.bits.lock();
  return nullptr;
}

// x: [n] float32 -> bits: [n] bf16 (nearest, ties to even)
void pack(const float* x, std::uint16_t* bits, std::int64_t n) {
  cpu::parallel_for(n, cpu::kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) bits[i] = float_to_bf16(x[i]);
  });
}

// bits: [n] bf16 -> y: [n] float32 (exact)
void unpack(const std::uint16_t* bits, float* y, std::int64_t n) {
  cpu::parallel_for(n, cpu::kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) y[i] = bf16_to_float(bits[i]);
  });
}

// dy: [n], bits: [n] bf16 -> dx: [n] = dy where bits > 0 (ReLU's backward, as the float32 kernel)
void relu_backward_bits(const float* dy, const std::uint16_t* bits, float* dx, std::int64_t n) {
  cpu::parallel_for(n, cpu::kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) dx[i] = math::relu_backward(dy[i], bf16_to_float(bits[i]));
  });
}

}  // namespace

Precision packed_precision(const Tensor& t) {
  const Precision p = autocast_precision();
  if (p == Precision::F32 || t.dtype() != DType::F32 || (t.is_leaf() && t.requires_grad())) return Precision::F32;
  if (t.device().is_cpu()) return p == Precision::BF16 ? p : Precision::F32;
  return GHM_WITH_CUDA ? p : Precision::F32;  // CUDA: the precision its convolutions read, bf16 or fp16
}

SavedActivation::SavedActivation(const Tensor& t) : shape_(t.shape()), precision_(packed_precision(t)) {
  if (precision_ == Precision::F32) {
    full_ = t.detach();
    return;
  }
  const std::shared_ptr<Storage>& source = t.impl().storage;
  const std::int64_t n = t.numel();
  bits_ = find_packed(source, n, precision_);
  if (bits_ != nullptr) return;
  bits_ = std::make_shared<Storage>(static_cast<std::size_t>(n) * sizeof(std::uint16_t), t.device());
#if GHM_WITH_CUDA
  if (t.device().is_cuda()) {
    const cuda::DeviceGuard guard(t.device().index);
    cuda::float_to_low(t.device_data<float>(), bits_->data(), n, precision_);
  }
#endif
  if (t.device().is_cpu()) pack(t.data<float>(), static_cast<std::uint16_t*>(bits_->data()), n);
  t_packed.push_back(PackedEntry{source, bits_, n, precision_});
}

Tensor SavedActivation::get() const {
  if (bits_ == nullptr) return full_;
  Tensor out = Tensor::empty(shape_, DType::F32, bits_->device());
#if GHM_WITH_CUDA
  if (bits_->device().is_cuda()) {
    const cuda::DeviceGuard guard(bits_->device().index);
    cuda::low_to_float(bits_->data(), out.device_data<float>(), out.numel(), precision_);
    return out;
  }
#endif
  unpack(static_cast<const std::uint16_t*>(bits_->data()), out.data<float>(), out.numel());
  return out;
}

Tensor SavedActivation::relu_backward_packed(const Tensor& dy) const {
  GHM_CHECK(bits_ != nullptr, "relu_backward_packed: the activation was kept as float32");
  GHM_CHECK(dy.shape() == shape_ && dy.dtype() == DType::F32 && dy.device() == bits_->device(),
            "relu_backward_packed: gradient ", dy.shape(), " ", dy.dtype(), " on ", dy.device(), " for a kept activation ",
            shape_, " f32 on ", bits_->device());
  Tensor dx = Tensor::empty(shape_, DType::F32, dy.device());
#if GHM_WITH_CUDA
  if (dy.device().is_cuda()) {  // widened first: a pass the CPU saves (below)
    const Tensor y = get();
    const cuda::DeviceGuard guard(dy.device().index);
    cuda::unary_backward(UnaryBackwardOp::Relu, dy.device_data<float>(), y.device_data<float>(), dx.device_data<float>(),
                         dx.numel());
    return dx;
  }
#endif
  relu_backward_bits(dy.data<float>(), static_cast<const std::uint16_t*>(bits_->data()), dx.data<float>(), dx.numel());
  return dx;
}

}  // namespace ghm
