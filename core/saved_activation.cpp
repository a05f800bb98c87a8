#include "core/saved_activation.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/bfloat16.h"
#include "core/cpu/parallel.h"
#include "core/ops/elementwise_math.h"
#include "core/precision.h"

namespace ghm {
namespace {

// One packed activation: its float32 storage and 16-bit copy, both weakly held.
struct PackedEntry {
  std::weak_ptr<Storage> source;
  std::weak_ptr<Storage> bits;
  std::int64_t numel = 0;
};

thread_local std::vector<PackedEntry> t_packed;

// The live 16-bit copy of `source` (numel elements), or null; drops entries whose storage is gone.
std::shared_ptr<Storage> find_packed(const std::shared_ptr<Storage>& source, std::int64_t numel) {
  std::erase_if(t_packed, [](const PackedEntry& e) { return e.source.expired() || e.bits.expired(); });
  for (const PackedEntry& e : t_packed)
    if (e.numel == numel && e.source.lock() == source) return e.bits.lock();
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

bool saves_as_bf16(const Tensor& t) {
  return autocast_precision() == Precision::BF16 && t.dtype() == DType::F32 && t.device().is_cpu() &&
         !(t.is_leaf() && t.requires_grad());
}

SavedActivation::SavedActivation(const Tensor& t) : shape_(t.shape()) {
  if (!saves_as_bf16(t)) {
    full_ = t.detach();
    return;
  }
  const std::shared_ptr<Storage>& source = t.impl().storage;
  const std::int64_t n = t.numel();
  bits_ = find_packed(source, n);
  if (bits_ != nullptr) return;
  bits_ = std::make_shared<Storage>(static_cast<std::size_t>(n) * sizeof(std::uint16_t), Device::cpu());
  pack(t.data<float>(), static_cast<std::uint16_t*>(bits_->data()), n);
  t_packed.push_back(PackedEntry{source, bits_, n});
}

Tensor SavedActivation::get() const {
  if (bits_ == nullptr) return full_;
  Tensor out = Tensor::empty(shape_, DType::F32, Device::cpu());
  unpack(static_cast<const std::uint16_t*>(bits_->data()), out.data<float>(), out.numel());
  return out;
}

Tensor SavedActivation::relu_backward_packed(const Tensor& dy) const {
  GHM_CHECK(bits_ != nullptr, "relu_backward_packed: the activation was kept as float32");
  GHM_CHECK(dy.shape() == shape_ && dy.dtype() == DType::F32, "relu_backward_packed: gradient ", dy.shape(), " ",
            dy.dtype(), " for a kept activation ", shape_, " f32");
  Tensor dx = Tensor::empty(shape_, DType::F32, Device::cpu());
  relu_backward_bits(dy.data<float>(), static_cast<const std::uint16_t*>(bits_->data()), dx.data<float>(), dx.numel());
  return dx;
}

}  // namespace ghm
