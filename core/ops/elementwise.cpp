// Elementwise ops: forward and backward side by side.
//
//   add: da = sum_to(g, a),      db = sum_to(g, b)
//   sub: da = sum_to(g, a),      db = -sum_to(g, b)
//   mul: da = sum_to(g * b, a),  db = sum_to(g * a, b)
//   div: da = sum_to(g / b, a),  db = -sum_to(g * y / b, b)      (y = a / b)
//   relu: dx = g * [y > 0];  sigmoid: dx = g * y * (1 - y);  exp: dx = g * y;  log: dx = g / x
#include "core/ops/elementwise.h"

#include "core/autograd.h"
#include "core/cpu/elementwise_cpu.h"
#include "core/ops/reduce.h"

namespace ghm {
namespace {

void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  check_dtype(a, DType::F32, op, "a");
  check_dtype(b, DType::F32, op, "b");
  GHM_CHECK(a.device() == b.device(), op, ": operands on different devices (", a.device(), " and ", b.device(), ")");
}

Tensor binary(cpu::BinaryOp kind, const Tensor& a, const Tensor& b, const char* op) {
  check_binary(a, b, op);
  const BroadcastPlan plan = make_broadcast_plan(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(plan.out_shape, DType::F32, a.device());
  cpu::binary_forward(kind, plan, a.data<float>(), b.data<float>(), out.data<float>());
  return out;
}

Tensor unary(cpu::UnaryOp kind, const Tensor& x, const char* op) {
  check_dtype(x, DType::F32, op, "x");
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  cpu::unary_forward(kind, x.data<float>(), out.data<float>(), x.numel());
  return out;
}

Tensor unary_grad(cpu::UnaryBackwardOp kind, const Tensor& g, const Tensor& saved) {
  Tensor dx = Tensor::empty(g.shape(), DType::F32, g.device());
  cpu::unary_backward(kind, g.data<float>(), saved.data<float>(), dx.data<float>(), g.numel());
  return dx;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary(cpu::BinaryOp::Add, a, b, "add");
  record_op(out, "add", {&a, &b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary(cpu::BinaryOp::Sub, a, b, "sub");
  record_op(out, "sub", {&a, &b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), neg(sum_to(g, sb))};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary(cpu::BinaryOp::Mul, a, b, "mul");
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
  Tensor out = binary(cpu::BinaryOp::Div, a, b, "div");
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
  check_dtype(x, DType::F32, "add_scalar", "x");
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  cpu::affine_scalar(x.data<float>(), 1.0f, s, out.data<float>(), x.numel());
  record_op(out, "add_scalar", {&x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor mul_scalar(const Tensor& x, float s) {
  check_dtype(x, DType::F32, "mul_scalar", "x");
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  cpu::affine_scalar(x.data<float>(), s, 0.0f, out.data<float>(), x.numel());
  record_op(out, "mul_scalar", {&x}, [s](const Tensor& g) { return std::vector<Tensor>{mul_scalar(g, s)}; });
  return out;
}

Tensor neg(const Tensor& x) {
  Tensor out = unary(cpu::UnaryOp::Neg, x, "neg");
  record_op(out, "neg", {&x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = unary(cpu::UnaryOp::Relu, x, "relu");
  record_op(out, "relu", {&x}, [y = out.detach()](const Tensor& g) {
    return std::vector<Tensor>{unary_grad(cpu::UnaryBackwardOp::Relu, g, y)};
  });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary(cpu::UnaryOp::Sigmoid, x, "sigmoid");
  record_op(out, "sigmoid", {&x}, [y = out.detach()](const Tensor& g) {
    return std::vector<Tensor>{unary_grad(cpu::UnaryBackwardOp::Sigmoid, g, y)};
  });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary(cpu::UnaryOp::Exp, x, "exp");
  record_op(out, "exp", {&x}, [y = out.detach()](const Tensor& g) {
    return std::vector<Tensor>{unary_grad(cpu::UnaryBackwardOp::Exp, g, y)};
  });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary(cpu::UnaryOp::Log, x, "log");
  record_op(out, "log", {&x}, [x_saved = x.detach()](const Tensor& g) {
    return std::vector<Tensor>{unary_grad(cpu::UnaryBackwardOp::Log, g, x_saved)};
  });
  return out;
}

}  // namespace ghm
