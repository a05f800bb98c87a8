// Module: a named tree of parameters, buffers and child modules (as torch.nn.Module).
//
// Names are hierarchical and stable ("layer1.0.conv1.weight"): they are the keys of our
// safetensors checkpoints, and tools/ maps torchvision's names onto them. A parameter is a leaf
// tensor that requires grad (unless frozen); a buffer is state that is saved but not trained
// (batch-norm running statistics). Tensors are handles, so a layer keeps its own copy of the
// handle and the registry sees the same storage; loading copies values into that storage.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace ghm::nn {

enum class Strict : bool { No, Yes };

// What a non-strict load did not match (a strict load throws listing the same).
struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the state
  std::vector<std::string> unexpected;  // in the state, not in the module
  std::vector<std::string> mismatched;  // in both, with different shapes or dtypes ("name: [a] vs [b]")
  bool clean() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // All parameters / buffers of this module and its descendants, depth first in registration order.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, Tensor>> state() const;  // each module: its parameters, its buffers, then its children
  std::vector<Tensor> parameters() const;
  std::int64_t num_parameters() const;

  // Copies values from `state` into this module's tensors (shapes and dtypes must agree).
  LoadReport load_state(const std::vector<std::pair<std::string, Tensor>>& state, Strict strict = Strict::Yes);

  // Moves every parameter and buffer of this subtree to `device` in place (the layers' handles see
  // the move); accumulated gradients are dropped. Create optimizers after the move.
  void to(Device device);
  // Where this subtree's tensors live: the device of its first parameter or buffer (CPU if none).
  Device device() const;

  // Training mode (batch norm uses batch statistics) or evaluation mode; recursive.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Stops (or restarts) gradients to every parameter of this subtree.
  void set_requires_grad(bool on);

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  virtual void on_train(bool) {}

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void collect(const std::string& prefix, bool params, bool buffers, std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace ghm::nn
