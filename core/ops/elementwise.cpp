// Elementwise ops: forward and backward side by side.
//
//   add: da = sum_to(g, a),      db = sum_to(g, b)
//   add_relu: y = relu(a + b);  da = sum_to(g [y > 0], a),  db = sum_to(g [y > 0], b)
//   sub: da = sum_to(g, a),      db = -sum_to(g, b)
//   mul: da = sum_to(g * b, a),  db = sum_to(g * a, b)
//   div: da = sum_to(g / b, a),  db = -sum_to(g * y / b, b)      (y = a / b)
//   relu: dx = g * [y > 0];  sigmoid: dx = g * y * (1 - y);  exp: dx = g * y;  log: dx = g / x
#include "core/ops/elementwise.h"

#include "core/autograd.h"
#include "core/cpu/elementwise_cpu.h"
#include "core/ops/reduce.h"
#include "core/saved_activation.h"
#if GHM_WITH_CUDA
#include "core/cuda/device_guard.h"
#include "core/cuda/elementwise_cuda.h"
#endif

namespace ghm {
namespace {

void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  check_dtype(a, DType::F32, op, "a");
  check_dtype(b, DType::F32, op, "b");
  GHM_CHECK(a.device() == b.device(), op, ": operands on different devices (", a.device(), " and ", b.device(), ")");
}

// Each op runs the kernel of its operands' device: cpu:: or its twin cuda:: with the same name.
Tensor binary(BinaryOp kind, const Tensor& a, const Tensor& b, const char* op) {
  check_binary(a, b, op);
  const BroadcastPlan plan = make_broadcast_plan(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(plan.out_shape, DType::F32, a.device());
#if GHM_WITH_CUDA
  if (a.device().is_cuda()) {
    const cuda::DeviceGuard guard(a.device().index);
    cuda::binary_forward(kind, plan, a.device_data<float>(), b.device_data<float>(), out.device_data<float>());
    return out;
  }
#endif
  cpu::binary_forward(kind, plan, a.data<float>(), b.data<float>(), out.data<float>());
  return out;
}

Tensor unary(UnaryOp kind, const Tensor& x, const char* op) {
  check_dtype(x, DType::F32, op, "x");
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::unary_forward(kind, x.device_data<float>(), out.device_data<float>(), x.numel());
    return out;
  }
#endif
  cpu::unary_forward(kind, x.data<float>(), out.data<float>(), x.numel());
  return out;
}

Tensor unary_grad(UnaryBackwardOp kind, const Tensor& g, const Tensor& saved) {
  Tensor dx = Tensor::empty(g.shape(), DType::F32, g.device());
#if GHM_WITH_CUDA
  if (g.device().is_cuda()) {
    const cuda::DeviceGuard guard(g.device().index);
    cuda::unary_backward(kind, g.device_data<float>(), saved.device_data<float>(), dx.device_data<float>(), g.numel());
    return dx;
  }
#endif
  cpu::unary_backward(kind, g.data<float>(), saved.data<float>(), dx.data<float>(), g.numel());
  return dx;
}

// out = x * scale + shift.
Tensor affine(const Tensor& x, float scale, float shift, const char* op) {
  check_dtype(x, DType::F32, op, "x");
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
#if GHM_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::DeviceGuard guard(x.device().index);
    cuda::affine_scalar(x.device_data<float>(), scale, shift, out.device_data<float>(), x.numel());
    return out;
  }
#endif
  cpu::affine_scalar(x.data<float>(), scale, shift, out.data<float>(), x.numel());
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary(BinaryOp::Add, a, b, "add");
  record_op(out, "add", {&a, &b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
  return out;
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  Tensor out = binary(BinaryOp::AddRelu, a, b, "add_relu");
  record_op(out, "add_relu", {&a, &b},
            [sa = a.shape(), sb = b.shape(), y = save_if(needs_grad({&a, &b}), out)](const Tensor& g) {
              // g where y > 0; under bf16 y is kept in 16 bits (core/saved_activation.h)
              const Tensor masked =
                  y.packed() ? y.relu_backward_packed(g) : unary_grad(UnaryBackwardOp::Relu, g, y.get());
              return std::vector<Tensor>{sum_to(masked, sa), sum_to(masked, sb)};
            });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary(BinaryOp::Sub, a, b, "sub");
  record_op(out, "sub", {&a, &b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), neg(sum_to(g, sb))};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary(BinaryOp::Mul, a, b, "mul");
  const bool need_a = needs_grad({&a}), need_b = needs_grad({&b});
  record_op(out, "mul", {&a, &b},
            [sa = a.shape(), sb = b.shape(), a_saved = need_b ? a.detach() : Tensor(),
             b_saved = need_a ? b.detach() : Tensor()](const Tensor& g) {
              return std::vector<Tensor>{b_saved.defined() ? sum_to(mul(g, b_saved), sa) : Tensor(),
                                         a_saved.defined() ? sum_to(mul(g, a_saved), sb) : Tensor()};
            });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary(BinaryOp::Div, a, b, "div");
  const bool need_b = needs_grad({&b});
  record_op(out, "div", {&a, &b},
            [sa = a.shape(), sb = b.shape(), b_saved = b.detach(),
             y_saved = need_b ? out.detach() : Tensor()](const Tensor& g) {
              Tensor g_over_b = div(g, b_saved);
              return std::vector<Tensor>{sum_to(g_over_b, sa),
                                         y_saved.defined() ? neg(sum_to(mul(g_over_b, y_saved), sb)) : Tensor()};
            });
  return out;
}

Tensor add_scalar(const Tensor& x, float s) {
  Tensor out = affine(x, 1.0f, s, "add_scalar");
  record_op(out, "add_scalar", {&x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor mul_scalar(const Tensor& x, float s) {
  Tensor out = affine(x, s, 0.0f, "mul_scalar");
  record_op(out, "mul_scalar", {&x}, [s](const Tensor& g) { return std::vector<Tensor>{mul_scalar(g, s)}; });
  return out;
}

Tensor neg(const Tensor& x) {
  Tensor out = unary(UnaryOp::Neg, x, "neg");
  record_op(out, "neg", {&x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = unary(UnaryOp::Relu, x, "relu");
  record_op(out, "relu", {&x}, [y = save_if(needs_grad({&x}), out)](const Tensor& g) {
    return std::vector<Tensor>{y.packed() ? y.relu_backward_packed(g) : unary_grad(UnaryBackwardOp::Relu, g, y.get())};
  });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary(UnaryOp::Sigmoid, x, "sigmoid");
  record_op(out, "sigmoid", {&x}, [y = out.detach()](const Tensor& g) {
    return std::vector<Tensor>{unary_grad(UnaryBackwardOp::Sigmoid, g, y)};
  });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary(UnaryOp::Exp, x, "exp");
  record_op(out, "exp", {&x}, [y = out.detach()](const Tensor& g) {
    return std::vector<Tensor>{unary_grad(UnaryBackwardOp::Exp, g, y)};
  });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary(UnaryOp::Log, x, "log");
  record_op(out, "log", {&x}, [x_saved = x.detach()](const Tensor& g) {
    return std::vector<Tensor>{unary_grad(UnaryBackwardOp::Log, g, x_saved)};
  });
  return out;
}

}  // namespace ghm
