// The op table's shared parts: the list of every family's entries, and the helpers both drivers
// use to decide what to check and with which upstream gradient.
#include "op_table.h"

#include <cmath>
#include <sstream>

#include "core/autograd.h"

namespace ghm::testing {

const std::vector<OpEntry>& op_table() {
  static const std::vector<OpEntry> table = [] {
    std::vector<OpEntry> all;
    for (auto family : {elementwise_entries, shape_entries, layer_entries, norm_entries})
      for (OpEntry& e : family()) all.push_back(std::move(e));
    return all;
  }();
  return table;
}

bool finite_differences_apply(const OpCase& c) {
  if (c.finite_differences == FiniteDifferences::No) return false;
  std::int64_t elements = 0;
  bool any = false;
  for (const OpInput& in : c.inputs) {
    if (!in.differentiable) continue;
    any = true;
    elements += in.value.numel();
  }
  return any && elements <= kFiniteDifferenceElements;
}

Tensor upstream_gradient(const OpCase& c, const std::vector<Tensor>& inputs, const Shape& y_shape) {
  Generator gen(1234);
  Tensor r = Tensor::uniform(y_shape, -1.0f, 1.0f, gen);
  if (!c.kink) return r;
  NoGradGuard no_grad;
  const Tensor kink = c.kink(inputs);
  GHM_CHECK(kink.shape() == y_shape, c.name, ": the kink has shape ", kink.shape(), ", the output ", y_shape);
  const float* k = kink.data<float>();
  float* p = r.data<float>();
  for (std::int64_t i = 0; i < r.numel(); ++i)
    if (std::abs(k[i]) < kKinkMargin) p[i] = 0.0f;
  return r;
}

Tensor random_index(const Shape& s, std::int64_t limit, DType dtype, Generator& gen) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(s.numel()));
  for (std::int64_t& x : v) x = static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(limit));
  if (dtype == DType::I64) return Tensor::from_vector(v, s);
  return Tensor::from_vector(std::vector<std::int32_t>(v.begin(), v.end()), s);
}

std::string describe(const std::vector<int>& v) {
  std::ostringstream out;
  out << "{";
  for (std::size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
  out << "}";
  return out.str();
}

}  // namespace ghm::testing
