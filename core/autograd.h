// Reverse-mode automatic differentiation on a dynamic graph.
//
// An op that produces `out` from inputs x_0..x_{k-1} calls `record_op` with a backward closure
// g_out -> (g_x0, ..., g_x{k-1}). The closure captures only what the backward formula needs
// (saved tensors are `detach()`ed, so they never point back into the graph). `record_op` does
// nothing when no input requires grad or when a NoGradGuard is alive, so inference builds no graph.
//
// backward(root, g):  count, for every node reachable from root, how many edges enter it; run
// nodes whose count reached zero (Kahn's algorithm, so each node runs once with the sum of all its
// incoming gradients); a leaf's accumulator adds into leaf.grad (so a parameter used by several
// branches, like the RetinaNet head shared by five FPN levels, gets the sum). Each op node drops
// its closure right after it runs, freeing the saved tensors; running it again is a clear error.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ghm {

// The gradients of an op's inputs from the gradient of its output; undefined tensors mean "none".
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;                         // the op, for error messages ("conv2d", "add", ...)
  std::vector<std::shared_ptr<Node>> next;  // one per input: its producer or accumulator, or null
  BackwardFn backward;                      // null once released
  bool is_accumulator = false;              // a leaf's gradient sink: never released
  bool released = false;
};

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any of the inputs requires grad: the op must record itself.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

// Makes `out` the result of op `name` over `inputs`, with the given backward closure. No-op when
// needs_grad(inputs) is false.
void record_op(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, BackwardFn backward);
void record_op(Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward);

// Runs backpropagation from `root` with upstream gradient `grad_root` (same shape as root).
void run_backward(const Tensor& root, const Tensor& grad_root);

// While alive, calls `on_ready(leaf)` for each leaf whose gradient a backward pass on this thread
// completes: right after the leaf's accumulator ran, which it does once per pass with the sum of
// every path's gradient, so leaf.grad() is final for that pass. Data-parallel training starts
// exchanging a bucket of gradients as soon as all of them are ready (dist/gradients.h). Scopes nest;
// the innermost is called.
class GradReadyScope {
 public:
  explicit GradReadyScope(std::function<void(const Tensor& leaf)> on_ready);
  ~GradReadyScope();
  GradReadyScope(const GradReadyScope&) = delete;
  GradReadyScope& operator=(const GradReadyScope&) = delete;

 private:
  std::function<void(const Tensor&)> on_ready_;
  const std::function<void(const Tensor&)>* previous_;
};

}  // namespace ghm
