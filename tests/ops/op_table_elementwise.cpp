// Op table entries: the elementwise ops (core/ops/elementwise.h) and the reductions
// (core/ops/reduce.h). See op_table.h for what the drivers do with them.
#include <string>
#include <utility>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "op_table.h"

namespace ghm::testing {
namespace {

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

enum class Values { Normal, Positive };  // Positive: in [0.2, 4], away from 0 (div's divisor, log)
enum class ReluKink { No, Yes };           // Yes: the gradient switches where the (summed) input crosses 0

Tensor make_values(const Shape& s, Values v, Generator& gen) {
  return v == Values::Positive ? Tensor::uniform(s, 0.2f, 4.0f, gen) : Tensor::normal(s, 0.0f, 2.0f, gen);
}

// Same shapes (odd sizes, one element, a scalar, empty, several blocks) and broadcasting pairs,
// both ways round.
std::vector<std::pair<Shape, Shape>> binary_shapes() {
  std::vector<std::pair<Shape, Shape>> out;
  for (const Shape& s : {Shape{1}, Shape{}, Shape{0}, Shape{257}, Shape{3, 5, 7}, Shape{2, 3, 4, 5},
                         Shape{2, 3, 33, 65}, Shape{1000003}})
    out.emplace_back(s, s);
  const std::vector<std::pair<Shape, Shape>> broadcast = {
      {Shape{2, 3, 4, 5}, Shape{1, 3, 1, 1}},    // per channel
      {Shape{2, 3, 4, 5}, Shape{}},              // a scalar
      {Shape{3, 1, 5}, Shape{4, 1}},             // both sides broadcast
      {Shape{7}, Shape{2, 7}},                   // a leading dimension added
      {Shape{2, 3, 33, 65}, Shape{1, 3, 1, 1}},  // long per-channel sums in the backward
      {Shape{2, 3, 33, 65}, Shape{}},
      {Shape{5, 4, 3}, Shape{4, 1}},
  };
  for (const auto& [a, b] : broadcast) {
    out.emplace_back(a, b);
    out.emplace_back(b, a);
  }
  return out;
}

std::vector<OpCase> binary_cases(BinaryFn f, Values second, ReluKink relu_kink) {
  Generator gen(17);
  std::vector<OpCase> out;
  for (const auto& [sa, sb] : binary_shapes()) {
    OpCase c{sa.to_string() + " with " + sb.to_string(),
             {grad_input(make_values(sa, Values::Normal, gen)), grad_input(make_values(sb, second, gen))},
             [f](const std::vector<Tensor>& in) { return f(in[0], in[1]); }};
    if (relu_kink == ReluKink::Yes) c.kink = [](const std::vector<Tensor>& in) { return add(in[0], in[1]); };
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<OpCase> unary_cases(const OpFn& f, Values values, ReluKink relu_kink) {
  Generator gen(23);
  std::vector<OpCase> out;
  for (const Shape& s :
       {Shape{1}, Shape{}, Shape{0}, Shape{257}, Shape{3, 5, 7}, Shape{2, 3, 33, 65}, Shape{1000003}}) {
    OpCase c{s.to_string(), {grad_input(make_values(s, values, gen))}, f};
    if (relu_kink == ReluKink::Yes) c.kink = [](const std::vector<Tensor>& in) { return in[0]; };
    out.push_back(std::move(c));
  }
  return out;
}

// Shapes for the reductions: both kernels (the last dimension, an inner one), rows longer than a
// block, a single element, a scalar, empty.
const std::vector<Shape> kReduceShapes = {Shape{1},    Shape{},           Shape{7},         Shape{3, 5},
                                          Shape{0, 3}, Shape{2, 3, 4, 5}, Shape{2, 3, 33, 65}, Shape{4, 300000},
                                          Shape{3, 1000003}};

// The cases share one input per shape (the drivers copy it before use).
OpCase reduce_case(const std::string& name, const Tensor& x, OpFn f) {
  return {name + " of " + x.shape().to_string(), {grad_input(x)}, std::move(f)};
}

std::vector<OpCase> sum_cases() {
  Generator gen(29);
  std::vector<OpCase> out;
  for (const Shape& s : kReduceShapes) {
    const Tensor x = Tensor::normal(s, 0.0f, 1.0f, gen);
    out.push_back(reduce_case("sum()", x, [](const std::vector<Tensor>& in) { return sum(in[0]); }));
    if (s.ndim() == 0) continue;
    out.push_back(reduce_case("sum({-1})", x, [](const std::vector<Tensor>& in) { return sum(in[0], {-1}); }));
    out.push_back(reduce_case("sum({0}, keep)", x,
                              [](const std::vector<Tensor>& in) { return sum(in[0], {0}, KeepDim::Yes); }));
    if (s.ndim() != 4) continue;
    out.push_back(reduce_case("sum({0, 2, 3})", x,
                              [](const std::vector<Tensor>& in) { return sum(in[0], {0, 2, 3}); }));
    out.push_back(reduce_case("sum({1}, keep)", x,
                              [](const std::vector<Tensor>& in) { return sum(in[0], {1}, KeepDim::Yes); }));
  }
  return out;
}

std::vector<OpCase> mean_cases() {
  Generator gen(31);
  std::vector<OpCase> out;
  for (const Shape& s : kReduceShapes) {
    if (s.numel() == 0) continue;  // the mean of nothing is an error
    const Tensor x = Tensor::normal(s, 0.0f, 1.0f, gen);
    out.push_back(reduce_case("mean()", x, [](const std::vector<Tensor>& in) { return mean(in[0]); }));
    if (s.ndim() == 0) continue;
    out.push_back(reduce_case("mean({-1})", x, [](const std::vector<Tensor>& in) { return mean(in[0], {-1}); }));
    if (s.ndim() >= 2)
      out.push_back(reduce_case("mean({0, 1})", x, [](const std::vector<Tensor>& in) { return mean(in[0], {0, 1}); }));
    if (s.ndim() != 4) continue;
    out.push_back(reduce_case("mean({-1, -2})", x,
                              [](const std::vector<Tensor>& in) { return mean(in[0], {-1, -2}); }));
    out.push_back(reduce_case("mean({0, 3}, keep)", x,
                              [](const std::vector<Tensor>& in) { return mean(in[0], {0, 3}, KeepDim::Yes); }));
  }
  return out;
}

// sum_to and broadcast_to: not differentiable themselves (they are the backward and forward of
// broadcasting); only their outputs are compared.
std::vector<OpCase> sum_to_cases() {
  Generator gen(37);
  std::vector<OpCase> out;
  for (const auto& [from, to] : std::vector<std::pair<Shape, Shape>>{{Shape{2, 5, 9, 11}, Shape{1, 5, 1, 1}},
                                                                      {Shape{3, 4}, Shape{4}},
                                                                      {Shape{2, 3, 33, 65}, Shape{3, 1, 1}},
                                                                      {Shape{5, 4, 3}, Shape{4, 1}},
                                                                      {Shape{7}, Shape{}},
                                                                      {Shape{0, 3}, Shape{3}},
                                                                      {Shape{3, 5}, Shape{3, 5}}})
    out.push_back({from.to_string() + " to " + to.to_string(), {const_input(Tensor::normal(from, 0.0f, 1.0f, gen))},
                   [to](const std::vector<Tensor>& in) { return sum_to(in[0], to); }});
  return out;
}

std::vector<OpCase> broadcast_to_cases() {
  Generator gen(41);
  std::vector<OpCase> out;
  for (const auto& [from, to] : std::vector<std::pair<Shape, Shape>>{{Shape{1, 5, 1, 1}, Shape{2, 5, 9, 11}},
                                                                      {Shape{}, Shape{3, 4}},
                                                                      {Shape{4, 1}, Shape{5, 4, 3}},
                                                                      {Shape{3}, Shape{0, 3}},
                                                                      {Shape{7}, Shape{7}},
                                                                      {Shape{1, 257}, Shape{300, 257}}})
    out.push_back({from.to_string() + " to " + to.to_string(), {const_input(Tensor::normal(from, 0.0f, 1.0f, gen))},
                   [to](const std::vector<Tensor>& in) { return broadcast_to(in[0], to); }});
  return out;
}

constexpr Tolerance kSameOperation{0, "the same single float operation per element on both backends "
                                      "(core/ops/elementwise_math.h): bit for bit"};
constexpr Tolerance kOneRounding{1e-6, "one rounded operation per element on each side; division and the "
                                       "library's expf/logf may differ from the device's in the last bit "
                                       "(relative 1.2e-7 per ulp)"};
constexpr Tolerance kBroadcastGradient{1e-6, "a broadcast operand's gradient is a sum (sum_to) of up to ~1.3e4 "
                                             "terms added in another order on each backend: each side within a "
                                             "few 1e-7 of the exact sum relative to the largest"};
constexpr Tolerance kSum{1e-5, "fp32 sums of up to 3e6 terms in different orders (the CPU accumulates the total "
                               "in double, the GPU in a fixed tree): well below 1e-5 relative to the largest sum"};
constexpr Tolerance kBroadcastCopy{1e-6, "the gradient of a reduction is the upstream gradient broadcast back, "
                                         "times 1/n for a mean: one rounding"};

OpEntry binary(const char* op, BinaryFn f, Values second = Values::Normal, ReluKink relu_kink = ReluKink::No) {
  return {op, kOneRounding, kBroadcastGradient, std::nullopt,
          [=] { return binary_cases(f, second, relu_kink); }};
}

OpEntry unary(const char* op, OpFn f, Tolerance tolerance, Values values = Values::Normal,
              ReluKink relu_kink = ReluKink::No) {
  return {op, tolerance, tolerance, std::nullopt, [=] { return unary_cases(f, values, relu_kink); }};
}

}  // namespace

std::vector<OpEntry> elementwise_entries() {
  return {
      binary("add", add),
      binary("sub", sub),
      binary("mul", mul),
      binary("div", div, Values::Positive),
      binary("add_relu", add_relu, Values::Normal, ReluKink::Yes),
      unary("neg", [](const std::vector<Tensor>& in) { return neg(in[0]); }, kSameOperation),
      unary("relu", [](const std::vector<Tensor>& in) { return relu(in[0]); }, kSameOperation, Values::Normal,
            ReluKink::Yes),
      unary("add_scalar", [](const std::vector<Tensor>& in) { return add_scalar(in[0], 0.25f); }, kSameOperation),
      unary("mul_scalar", [](const std::vector<Tensor>& in) { return mul_scalar(in[0], -1.5f); }, kSameOperation),
      unary("sigmoid", [](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, kOneRounding),
      unary("exp", [](const std::vector<Tensor>& in) { return exp(in[0]); }, kOneRounding),
      unary("log", [](const std::vector<Tensor>& in) { return log(in[0]); }, kOneRounding, Values::Positive),
      {"sum", kSum, kBroadcastCopy, std::nullopt, sum_cases},
      {"mean", kSum, kBroadcastCopy, std::nullopt, mean_cases},
      {"sum_to", kSum, kNoGradient, std::nullopt, sum_to_cases},
      {"broadcast_to", {0, "a copy: bit for bit"}, kNoGradient, std::nullopt, broadcast_to_cases},
  };
}

}  // namespace ghm::testing
