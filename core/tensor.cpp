#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "core/autograd.h"
#if GHM_WITH_CUDA
#include "core/cuda/convert_cuda.h"
#include "core/cuda/copy.h"
#include "core/cuda/device_guard.h"
#endif
#include "core/random.h"

namespace ghm {

void check_defined(const Tensor& t, const char* op, const char* arg) {
  GHM_CHECK(t.defined(), op, ": argument '", arg, "' is an undefined tensor");
}

void check_dtype(const Tensor& t, DType want, const char* op, const char* arg) {
  check_defined(t, op, arg);
  GHM_CHECK(t.dtype() == want, op, ": argument '", arg, "' must be ", want, ", got ", t.dtype(), " of shape ",
            t.shape());
}

// ---- creation --------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(shape.numel()) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

namespace {
template <class T>
void fill_typed(Tensor& t, double value) {
  std::fill_n(t.data<T>(), t.numel(), static_cast<T>(value));
}

void fill(Tensor& t, double value) {
  switch (t.dtype()) {
    case DType::F32: fill_typed<float>(t, value); break;
    case DType::I32: fill_typed<std::int32_t>(t, value); break;
    case DType::I64: fill_typed<std::int64_t>(t, value); break;
    case DType::U8: fill_typed<std::uint8_t>(t, value); break;
  }
}
}  // namespace

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (t.nbytes() == 0) return t;
  if (device.is_cuda()) {
#if GHM_WITH_CUDA
    cuda::zero_bytes(t.raw_device_data(), device, t.nbytes());
#endif
  } else {
    std::memset(t.raw_data(), 0, t.nbytes());
  }
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  if (device.is_cuda()) return full(shape, value, dtype, Device::cpu()).to(device);  // filled on the host, copied
  Tensor t = empty(shape, dtype, device);
  fill(t, value);
  return t;
}

Tensor Tensor::arange(std::int64_t n, DType dtype) {
  GHM_CHECK(n >= 0, "arange: length ", n, " is negative");
  Tensor t = empty(Shape{n}, dtype);
  switch (dtype) {
    case DType::F32: for (std::int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(i); break;
    case DType::I32: for (std::int64_t i = 0; i < n; ++i) t.data<std::int32_t>()[i] = static_cast<std::int32_t>(i); break;
    case DType::I64: for (std::int64_t i = 0; i < n; ++i) t.data<std::int64_t>()[i] = i; break;
    case DType::U8: for (std::int64_t i = 0; i < n; ++i) t.data<std::uint8_t>()[i] = static_cast<std::uint8_t>(i); break;
  }
  return t;
}

Tensor Tensor::uniform(const Shape& shape, float low, float high, Generator& gen) {
  GHM_CHECK(low <= high, "uniform: low ", low, " is above high ", high);
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = gen.uniform(low, high);
  return t;
}

Tensor Tensor::normal(const Shape& shape, float mean, float stddev, Generator& gen) {
  GHM_CHECK(stddev >= 0, "normal: standard deviation ", stddev, " is negative");
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = mean + stddev * gen.normal();
  return t;
}

float Tensor::item() const {
  GHM_CHECK(numel() == 1, "item: tensor of shape ", shape(), " has ", numel(), " elements, not one");
  if (device().is_cuda()) return detach().to(Device::cpu()).item();  // one synchronising copy
  switch (dtype()) {
    case DType::F32: return data<float>()[0];
    case DType::I32: return static_cast<float>(data<std::int32_t>()[0]);
    case DType::I64: return static_cast<float>(data<std::int64_t>()[0]);
    case DType::U8: return static_cast<float>(data<std::uint8_t>()[0]);
  }
  return 0;
}

// ---- copies and views ------------------------------------------------------------------------

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  if (nbytes() > 0) {
    if (device().is_cuda()) {
#if GHM_WITH_CUDA
      cuda::copy_bytes(out.raw_device_data(), device(), raw_device_data(), device(), nbytes());
#endif
    } else {
      std::memcpy(out.raw_data(), raw_data(), nbytes());
    }
  }
  record_op(out, "clone", {this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::reshape(std::initializer_list<std::int64_t> dims_in) const {
  std::vector<std::int64_t> dims(dims_in);
  int inferred = -1;
  std::int64_t known = 1;
  for (int d = 0; d < static_cast<int>(dims.size()); ++d) {
    if (dims[static_cast<std::size_t>(d)] == -1) {
      GHM_CHECK(inferred < 0, "reshape: more than one -1 for a tensor of shape ", shape());
      inferred = d;
    } else {
      known *= dims[static_cast<std::size_t>(d)];
    }
  }
  if (inferred >= 0) {
    GHM_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer the -1 extent from shape ", shape());
    dims[static_cast<std::size_t>(inferred)] = numel() / known;
  }
  return reshape(Shape(dims));
}

Tensor Tensor::reshape(const Shape& target) const {
  GHM_CHECK(target.numel() == numel(), "reshape: shape ", shape(), " (", numel(), " elements) cannot become ",
            target);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->shape = target;
  impl->dtype = dtype();
  Tensor out(std::move(impl));
  const Shape original = shape();
  record_op(out, "reshape", {this}, [original](const Tensor& g) { return std::vector<Tensor>{g.reshape(original)}; });
  return out;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->shape = shape();
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

namespace {
template <class To, class From>
void convert(const From* src, To* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<To>(src[i]);
}

template <class To>
void convert_from(const Tensor& src, To* dst) {
  switch (src.dtype()) {
    case DType::F32: convert(src.data<float>(), dst, src.numel()); break;
    case DType::I32: convert(src.data<std::int32_t>(), dst, src.numel()); break;
    case DType::I64: convert(src.data<std::int64_t>(), dst, src.numel()); break;
    case DType::U8: convert(src.data<std::uint8_t>(), dst, src.numel()); break;
  }
}
}  // namespace

Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  Tensor out = empty(shape(), dtype(), target);
#if GHM_WITH_CUDA
  cuda::copy_bytes(out.raw_device_data(), target, raw_device_data(), device(), nbytes());
#else
  GHM_FAIL("to(", target, "): this build has no CUDA backend");  // unreachable: empty() already failed
#endif
  record_op(out, "to_device", {this}, [source = device()](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
  return out;
}

void Tensor::copy_from(const Tensor& src) {
  GHM_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_from: a ", src.dtype(), " tensor of shape ",
            src.shape(), " into a ", dtype(), " tensor of shape ", shape());
  if (nbytes() == 0 || shares_storage_with(src)) return;
  if (device().is_cuda() || src.device().is_cuda()) {
#if GHM_WITH_CUDA
    cuda::copy_bytes(raw_device_data(), device(), src.raw_device_data(), src.device(), nbytes());
#endif
  } else {
    std::memcpy(raw_data(), src.raw_data(), nbytes());
  }
}

void Tensor::move_storage_to(Device target) {
  GHM_CHECK(is_leaf(), "move_storage_to: only leaf tensors can move in place (this one comes from '", grad_fn()->name,
            "')");
  if (device() == target) return;
  const Tensor moved = detach().to(target);
  impl().storage = moved.impl().storage;
  impl().grad = nullptr;
  impl().grad_accumulator = nullptr;
}

Tensor Tensor::to(DType target) const {
  Tensor out = empty(shape(), target, device());
  if (device().is_cuda()) {
#if GHM_WITH_CUDA
    const cuda::DeviceGuard guard(device().index);
    cuda::convert(raw_device_data(), dtype(), out.raw_device_data(), target, numel());
#endif
    return out;
  }
  switch (target) {
    case DType::F32: convert_from(*this, out.data<float>()); break;
    case DType::I32: convert_from(*this, out.data<std::int32_t>()); break;
    case DType::I64: convert_from(*this, out.data<std::int64_t>()); break;
    case DType::U8: convert_from(*this, out.data<std::uint8_t>()); break;
  }
  return out;
}

// ---- autograd --------------------------------------------------------------------------------

Tensor& Tensor::set_requires_grad(bool on) {
  GHM_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad (this one comes from '",
            grad_fn()->name, "'); use detach() first");
  GHM_CHECK(!on || dtype() == DType::F32, "set_requires_grad: only f32 tensors can require grad, got ", dtype());
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    GHM_CHECK(g.shape() == shape(), "set_grad: gradient of shape ", g.shape(), " for a tensor of shape ", shape());
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::zero_grad() { impl().grad = nullptr; }

void Tensor::backward() const {
  GHM_CHECK(numel() == 1, "backward: called without a gradient on a tensor of shape ", shape(),
            "; only one-element tensors have an implicit gradient of 1");
  run_backward(*this, Tensor::ones(shape(), DType::F32, device()));
}

void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }

// ---- printing --------------------------------------------------------------------------------

std::string Tensor::to_string(std::int64_t max_elements) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(" << shape() << ", " << dtype() << ", " << device();
  if (requires_grad()) os << ", requires_grad";
  if (grad_fn()) os << ", grad_fn=" << grad_fn()->name;
  os << ") [";
  if (device().is_cuda()) {  // print the values from a host copy
    const std::string host = detach().to(Device::cpu()).to_string(max_elements);
    os << host.substr(host.find(") [") + 3);
    return os.str();
  }
  const std::int64_t n = std::min(numel(), max_elements);
  os << std::setprecision(6);
  for (std::int64_t i = 0; i < n; ++i) {
    if (i) os << ", ";
    switch (dtype()) {
      case DType::F32: os << data<float>()[i]; break;
      case DType::I32: os << data<std::int32_t>()[i]; break;
      case DType::I64: os << data<std::int64_t>()[i]; break;
      case DType::U8: os << static_cast<int>(data<std::uint8_t>()[i]); break;
    }
  }
  if (numel() > n) os << ", ... (" << numel() << " elements)";
  os << "]";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace ghm
