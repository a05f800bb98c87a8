#include "core/autograd.h"
#include "nn/module.h"

#include <set>
#include <sstream>

namespace ghm::nn {
namespace {

void check_name(const std::string& name) {
  GHM_CHECK(!name.empty() && name.find('.') == std::string::npos, "module: name '", name,
            "' must be non-empty and contain no '.'");
}

std::string join(const std::vector<std::string>& v, std::size_t max = 10) {
  std::ostringstream os;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) os << (i ? ", " : "") << v[i];
  if (v.size() > max) os << ", ... (" << v.size() << " in all)";
  return os.str();
}

}  // namespace

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_name(name);
  check_dtype(t, DType::F32, "register_parameter", name.c_str());
  if (!t.requires_grad()) t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_name(name);
  check_defined(t, "register_buffer", name.c_str());
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_name(name);
  GHM_CHECK(m != nullptr, "module: child '", name, "' is null");
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool params, bool buffers,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  if (params)
    for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers, out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", true, false, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", false, true, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

LoadReport Module::load_state(const std::vector<std::pair<std::string, Tensor>>& state, Strict strict) {
  std::map<std::string, Tensor> given;
  for (const auto& [n, t] : state) given.emplace(n, t);
  LoadReport report;
  std::vector<std::pair<Tensor, Tensor>> copies;  // destination, source
  std::set<std::string> used;
  for (const auto& [name, dst] : this->state()) {
    auto it = given.find(name);
    if (it == given.end()) {
      report.missing.push_back(name);
      continue;
    }
    used.insert(name);
    const Tensor& src = it->second;
    if (src.shape() != dst.shape() || src.dtype() != dst.dtype()) {
      report.mismatched.push_back(str_cat(name, ": ours ", dst.shape(), " ", dst.dtype(), " vs given ", src.shape(), " ",
                                          src.dtype()));
      continue;
    }
    copies.emplace_back(dst, src);
  }
  for (const auto& [n, t] : given)
    if (!used.count(n)) report.unexpected.push_back(n);
  if (strict == Strict::Yes && !report.clean())
    GHM_FAIL("load_state: the state does not match the model: ", report.missing.size(), " missing [",
             join(report.missing), "], ", report.unexpected.size(), " unexpected [", join(report.unexpected), "], ",
             report.mismatched.size(), " with another shape [", join(report.mismatched), "]");
  for (auto& [dst, src] : copies) dst.copy_from(src);
  return report;
}

Device Module::device() const {
  if (!params_.empty()) return params_.front().second.device();
  if (!buffers_.empty()) return buffers_.front().second.device();
  for (const auto& [n, c] : children_)
    if (!c->named_parameters().empty() || !c->named_buffers().empty()) return c->device();
  return Device::cpu();
}

void Module::to(Device device) {
  for (auto& [n, t] : params_) t.move_storage_to(device);
  for (auto& [n, t] : buffers_) t.move_storage_to(device);
  for (auto& [n, c] : children_) c->to(device);
}

void Module::train(bool on) {
  training_ = on;
  on_train(on);
  for (auto& [n, c] : children_) c->train(on);
}

void Module::set_requires_grad(bool on) {
  for (auto& [n, t] : params_) {
    Tensor handle = t;
    handle.set_requires_grad(on);
    if (!on) handle.zero_grad();
  }
  for (auto& [n, c] : children_) c->set_requires_grad(on);
}

}  // namespace ghm::nn
