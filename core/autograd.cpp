#include "core/autograd.h"

#include <unordered_map>

#include "core/ops/elementwise.h"
#include "core/profile.h"

namespace ghm {
namespace {

thread_local bool t_grad_enabled = true;
thread_local const std::function<void(const Tensor&)>* t_grad_ready = nullptr;  // GradReadyScope's

// A tensor we may keep as a gradient without copying: nobody else holds it or its storage. (An op
// whose backward hands one tensor to two inputs, as add's for equal shapes, would otherwise give
// two leaves the same gradient buffer, and a gradient exchange that sums in place would sum it twice.)
bool exclusively_owned(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl().storage.use_count() == 1;
}

// The node that receives the gradient of `t`: its producer, or (for a leaf) its accumulator.
std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  TensorImpl& impl = t.impl();
  if (!impl.grad_accumulator) {
    auto node = std::make_shared<Node>();
    node->name = "accumulate_grad";
    node->is_accumulator = true;
    std::weak_ptr<TensorImpl> leaf = t.impl_ptr();
    node->backward = [leaf](const Tensor& g) {
      if (auto impl = leaf.lock()) {
        Tensor leaf_tensor(impl);
        Tensor current = leaf_tensor.grad();
        if (!current.defined()) leaf_tensor.set_grad(exclusively_owned(g) ? g : g.clone());
        else leaf_tensor.set_grad(add(current, g));
        if (t_grad_ready != nullptr) (*t_grad_ready)(leaf_tensor);
      }
      return std::vector<Tensor>{};
    };
    impl.grad_accumulator = node;
  }
  return impl.grad_accumulator;
}

void record(Tensor& out, const char* name, std::vector<std::shared_ptr<Node>> next, BackwardFn backward) {
  auto node = std::make_shared<Node>();
  node->name = name;
  node->next = std::move(next);
  node->backward = std::move(backward);
  out.impl().requires_grad = true;
  out.impl().grad_fn = std::move(node);
}

}  // namespace

bool grad_enabled() { return t_grad_enabled; }

GradReadyScope::GradReadyScope(std::function<void(const Tensor& leaf)> on_ready)
    : on_ready_(std::move(on_ready)), previous_(t_grad_ready) {
  t_grad_ready = &on_ready_;
}

GradReadyScope::~GradReadyScope() { t_grad_ready = previous_; }

NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

void record_op(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, BackwardFn backward) {
  profile::mark(name);
  if (!needs_grad(inputs)) return;
  std::vector<std::shared_ptr<Node>> next;
  next.reserve(inputs.size());
  for (const Tensor* t : inputs) next.push_back(t->defined() ? gradient_edge(*t) : nullptr);
  record(out, name, std::move(next), std::move(backward));
}

void record_op(Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward) {
  profile::mark(name);
  if (!t_grad_enabled) return;
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) return;
  std::vector<std::shared_ptr<Node>> next;
  next.reserve(inputs.size());
  for (const Tensor& t : inputs) next.push_back(t.defined() ? gradient_edge(t) : nullptr);
  record(out, name, std::move(next), std::move(backward));
}

void run_backward(const Tensor& root, const Tensor& grad_root) {
  check_defined(root, "backward", "root");
  check_defined(grad_root, "backward", "grad_output");
  GHM_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no input of its computation did)");
  GHM_CHECK(grad_root.shape() == root.shape(), "backward: gradient of shape ", grad_root.shape(),
            " for a tensor of shape ", root.shape());
  GHM_CHECK(grad_root.dtype() == DType::F32, "backward: gradient must be f32, got ", grad_root.dtype());
  GHM_CHECK(grad_root.device() == root.device(), "backward: gradient on ", grad_root.device(), " for a tensor on ",
            root.device());
  NoGradGuard no_grad;  // gradients are computed without building a graph of their own
  const bool profiling = profile::running();
  if (profiling) profile::mark("(before backward)");

  std::shared_ptr<Node> start = gradient_edge(root);

  // Pass 1: how many edges enter each node reachable from the root.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{start.get()};
  pending[start.get()] = 0;
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& child : node->next) {
      if (!child) continue;
      auto [it, inserted] = pending.try_emplace(child.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(child.get());
    }
  }

  // Pass 2: run each node once all of its consumers have contributed their gradient.
  std::unordered_map<Node*, Tensor> grads;
  grads[start.get()] = grad_root;
  std::vector<Node*> ready{start.get()};
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad_out;
    if (auto it = grads.find(node); it != grads.end()) {
      grad_out = std::move(it->second);
      grads.erase(it);
    }
    std::vector<Tensor> grad_inputs;
    if (grad_out.defined()) {
      GHM_CHECK(!node->released, "backward: the graph through '", node->name,
                "' was already freed by an earlier backward; run the forward pass again");
      if (profiling) {
        profile::mark("backward: graph walk");  // the engine's own work since the last closure
        const std::string label = node->name + " backward";
        profile::Region region(label.c_str());
        grad_inputs = node->backward(grad_out);
      } else {
        grad_inputs = node->backward(grad_out);
      }
    }
    if (!node->is_accumulator) {
      node->backward = nullptr;  // frees the tensors the closure saved
      node->released = true;
    }
    for (std::size_t i = 0; i < node->next.size(); ++i) {
      Node* child = node->next[i].get();
      if (!child) continue;
      if (i < grad_inputs.size() && grad_inputs[i].defined()) {
        auto [it, inserted] = grads.try_emplace(child, grad_inputs[i]);
        if (!inserted) {
          if (profiling) profile::mark("backward: graph walk");
          profile::Region region("backward: gradient sums");
          it->second = add(it->second, grad_inputs[i]);
        }
      }
      if (--pending[child] == 0) ready.push_back(child);
    }
  }
  if (profiling) profile::mark("backward: graph walk");
}

}  // namespace ghm
