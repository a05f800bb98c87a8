// Tensor: a shape, an element type, a device and a reference-counted storage, plus the autograd
// fields. Always contiguous and row-major (NCHW for images); copies are cheap (they share the
// storage), `clone()` copies the data.
//
// Autograd in one paragraph: a tensor that `requires_grad` is either a leaf (a parameter: its
// gradient accumulates into `grad()`) or the output of an op (it holds `grad_fn`, the node whose
// closure computes the inputs' gradients). `backward()` walks the nodes in reverse topological
// order and frees each node's saved tensors as it goes. See core/autograd.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace ghm {

class Generator;
struct Node;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::F32;

  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;           // set on op outputs that require grad
  std::shared_ptr<Node> grad_accumulator;  // leaves only, created on first use
  std::shared_ptr<TensorImpl> grad;        // leaves only: the accumulated gradient
};

class Tensor {
 public:
  Tensor() = default;  // undefined: `defined()` is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation ------------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor arange(std::int64_t n, DType dtype = DType::F32);  // 0, 1, ..., n-1
  static Tensor uniform(const Shape& shape, float low, float high, Generator& gen);
  static Tensor normal(const Shape& shape, float mean, float stddev, Generator& gen);
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor scalar(float value) { return from_vector<float>({value}, Shape{}); }

  // ---- properties ----------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int dim() const { return shape().ndim(); }
  std::int64_t size(int d) const { return shape()[shape().wrap_dim(d, "size")]; }
  std::int64_t numel() const { return shape().numel(); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }

  // Typed access for CPU code; checks the element type (naming `T` and ours on mismatch) and that
  // the tensor is on the CPU (a CUDA tensor reaching CPU code is a clear error, not a crash).
  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw_data() {
    check_host_access();
    return impl().storage->data();
  }
  const void* raw_data() const {
    check_host_access();
    return impl().storage->data();
  }
  // The address on the tensor's own device, for CUDA kernels and copies (no device check).
  template <class T> T* device_data() {
    GHM_CHECK(dtype() == dtype_of<T>, "tensor of ", dtype(), " accessed as ", dtype_of<T>);
    return static_cast<T*>(impl().storage->data());
  }
  template <class T> const T* device_data() const {
    GHM_CHECK(dtype() == dtype_of<T>, "tensor of ", dtype(), " accessed as ", dtype_of<T>);
    return static_cast<const T*>(impl().storage->data());
  }
  void* raw_device_data() { return impl().storage->data(); }
  const void* raw_device_data() const { return impl().storage->data(); }
  bool shares_storage_with(const Tensor& other) const { return impl().storage == other.impl().storage; }

  template <class T>
  std::vector<T> to_vector() const;
  float item() const;  // a one-element f32 tensor's value

  // ---- copies and views ----------------------------------------------------------------------
  Tensor clone() const;                                   // differentiable copy
  Tensor reshape(const Shape& shape) const;               // differentiable; shares storage
  Tensor reshape(std::initializer_list<std::int64_t> dims) const;  // one extent may be -1 (inferred)
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor detach() const;                                  // same storage, no autograd history
  Tensor to(DType dtype) const;                           // converts elements (not differentiable)
  // The same values on `device` (this tensor itself when already there); differentiable: the
  // gradient goes back to this tensor's device. Host <-> device copies synchronise with the host.
  Tensor to(Device device) const;
  // In place and outside autograd: this tensor's values become src's (same shape and dtype; the
  // two may be on different devices). Loading weights into a model uses it.
  void copy_from(const Tensor& src);
  // Moves a leaf's values to `device` in place: every handle of this tensor (a layer's and its
  // module registry's) sees the new storage; an accumulated gradient is dropped. nn::Module::to.
  void move_storage_to(Device device);

  // ---- autograd ------------------------------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool on);                     // leaves only
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  Tensor grad() const;                                    // undefined until a backward reaches it
  void set_grad(const Tensor& g);
  void zero_grad();                                       // drops the accumulated gradient
  void backward() const;                                  // from a one-element tensor
  void backward(const Tensor& grad_output) const;         // with an upstream gradient of our shape

  // ---- debugging -----------------------------------------------------------------------------
  std::string to_string(std::int64_t max_elements = 16) const;
  TensorImpl& impl() const {
    GHM_CHECK(impl_ != nullptr, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  void check_host_access() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// "op: expected f32, got i64" style checks used at public boundaries.
void check_dtype(const Tensor& t, DType want, const char* op, const char* arg);
void check_defined(const Tensor& t, const char* op, const char* arg);

// ---- template definitions --------------------------------------------------------------------
template <class T>
T* Tensor::data() {
  GHM_CHECK(dtype() == dtype_of<T>, "tensor of ", dtype(), " accessed as ", dtype_of<T>);
  return static_cast<T*>(raw_data());
}

template <class T>
const T* Tensor::data() const {
  GHM_CHECK(dtype() == dtype_of<T>, "tensor of ", dtype(), " accessed as ", dtype_of<T>);
  return static_cast<const T*>(raw_data());
}

inline void Tensor::check_host_access() const {
  GHM_CHECK(device().is_cpu(), "a tensor on ", device(), " reached CPU code; move it with .to(Device::cpu())");
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  GHM_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), "from_vector: ", values.size(),
            " values do not fill shape ", shape);
  Tensor t = empty(shape, dtype_of<T>);
  if (!values.empty()) std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  GHM_CHECK(device().is_cpu(), "to_vector: tensor is on ", device(), "; move it to the CPU first");
  const T* p = data<T>();
  return std::vector<T>(p, p + numel());
}

}  // namespace ghm
