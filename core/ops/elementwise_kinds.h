// The elementwise operations the CPU and CUDA kernels share (core/cpu/elementwise_cpu.h,
// core/cuda/elementwise_cuda.h): the same names on both backends.
#pragma once

namespace ghm {

enum class BinaryOp { Add, Sub, Mul, Div, AddRelu };  // AddRelu: relu(a + b)
enum class UnaryOp { Neg, Relu, Sigmoid, Exp, Log };
enum class UnaryBackwardOp { Relu, Sigmoid, Exp, Log };

}  // namespace ghm
