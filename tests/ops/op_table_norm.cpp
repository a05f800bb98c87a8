// Op table entries: the normalisations (core/ops/norm.h): batch norm in training (its running
// buffers, updated in place, are compared too) and in evaluation, with and without the affine
// parameters; frozen batch norm and its folded scale and shift; group norm with 1, some and C
// groups. Shapes: odd sizes, C = 1, H = W = 1, N = 1, 2-D and 3-D inputs, sizes that span several
// reduction chunks, zero variance, and empty inputs. See op_table.h for what the drivers do.
#include <string>
#include <vector>

#include "core/ops/norm.h"
#include "core/ops/shape_ops.h"
#include "op_table.h"

namespace ghm::testing {
namespace {

enum class Affine { Yes, No };

std::string affine_name(Affine a) { return a == Affine::Yes ? "" : " without affine"; }

using MakeInput = OpInput (*)(Tensor);  // grad_input or const_input

// weight and bias ([C]) when affine: a weight around 1, any bias.
void push_affine(std::vector<OpInput>& inputs, std::int64_t c, Affine affine, MakeInput make, Generator& gen) {
  if (affine == Affine::No) return;
  inputs.push_back(make(Tensor::uniform(Shape{c}, 0.5f, 1.5f, gen)));
  inputs.push_back(make(Tensor::normal(Shape{c}, 0, 1, gen)));
}

// Running statistics ([C]): any mean, a variance in [0.5, 2].
void push_running(std::vector<OpInput>& inputs, std::int64_t c, Generator& gen) {
  inputs.push_back(const_input(Tensor::normal(Shape{c}, 0, 1, gen)));
  inputs.push_back(const_input(Tensor::uniform(Shape{c}, 0.5f, 2.0f, gen)));
}

// Inputs: x, [weight, bias], running_mean, running_var.
OpCase batch_norm_case(const Shape& s, BatchNormMode mode, Affine affine, Generator& gen) {
  std::vector<OpInput> inputs = {grad_input(Tensor::normal(s, 0.5f, 2.0f, gen))};
  push_affine(inputs, s[1], affine, grad_input, gen);
  push_running(inputs, s[1], gen);
  const std::size_t at = affine == Affine::Yes ? 3 : 1;
  return {std::string(mode == BatchNormMode::Train ? "train " : "eval ") + s.to_string() + affine_name(affine), inputs,
          [mode, affine, at](const std::vector<Tensor>& in) {
            Tensor running_mean = in[at], running_var = in[at + 1];  // updated in place in training
            return affine == Affine::Yes
                       ? batch_norm(in[0], in[1], in[2], running_mean, running_var, mode, 0.1f, 1e-5f)
                       : batch_norm(in[0], Tensor(), Tensor(), running_mean, running_var, mode, 0.1f, 1e-5f);
          }};
}

const std::vector<Shape> kBatchNormShapes = {
    Shape{2, 3, 5, 7},     // odd sizes
    Shape{3, 1, 9, 11},    // C = 1
    Shape{4, 5, 1, 1},     // H = W = 1
    Shape{1, 4, 13, 17},   // N = 1
    Shape{5, 7, 3},        // [N, C, L]
    Shape{6, 3},           // [N, C]
    Shape{2, 3, 67, 71},   // 9514 values per channel: several reduction chunks
    Shape{8, 16, 50, 60},  // 24000 values per channel, 384000 in all
    Shape{4, 8, 61, 67},
};

std::vector<OpCase> batch_norm_cases() {
  Generator gen(59);
  std::vector<OpCase> out;
  for (const BatchNormMode mode : {BatchNormMode::Train, BatchNormMode::Eval})
    for (const Shape& s : kBatchNormShapes)
      for (const Affine affine : {Affine::Yes, Affine::No}) out.push_back(batch_norm_case(s, mode, affine, gen));
  out.push_back(batch_norm_case(Shape{0, 3, 4, 5}, BatchNormMode::Eval, Affine::Yes, gen));  // no images
  out.push_back(batch_norm_case(Shape{2, 3, 0, 5}, BatchNormMode::Eval, Affine::Yes, gen));  // empty planes
  return out;
}

// Inputs: x, then the constants [weight, bias], running_mean, running_var.
std::vector<OpCase> frozen_batch_norm_cases() {
  Generator gen(67);
  std::vector<OpCase> out;
  for (const Shape& s :
       {Shape{2, 3, 5, 7}, Shape{3, 1, 9, 11}, Shape{4, 5, 1, 1}, Shape{2, 64, 33, 17}, Shape{0, 3, 2, 2}})
    for (const Affine affine : {Affine::Yes, Affine::No}) {
      std::vector<OpInput> inputs = {grad_input(Tensor::normal(s, 0.5f, 2.0f, gen))};
      push_affine(inputs, s[1], affine, const_input, gen);
      push_running(inputs, s[1], gen);
      out.push_back({s.to_string() + affine_name(affine), inputs, [affine](const std::vector<Tensor>& in) {
                       return affine == Affine::Yes ? frozen_batch_norm(in[0], in[1], in[2], in[3], in[4])
                                                    : frozen_batch_norm(in[0], Tensor(), Tensor(), in[1], in[2]);
                     }});
    }
  return out;
}

// The folded [C] scale and shift, compared as one [2C] tensor.
std::vector<OpCase> frozen_batch_norm_affine_cases() {
  Generator gen(71);
  std::vector<OpCase> out;
  for (const std::int64_t c : {1, 3, 64, 0})
    for (const Affine affine : {Affine::Yes, Affine::No}) {
      std::vector<OpInput> inputs;
      push_affine(inputs, c, affine, const_input, gen);
      push_running(inputs, c, gen);
      out.push_back({"C = " + std::to_string(c) + affine_name(affine), inputs, [affine](const std::vector<Tensor>& in) {
                       const ChannelAffine a = affine == Affine::Yes
                                                   ? frozen_batch_norm_affine(in[0], in[1], in[2], in[3])
                                                   : frozen_batch_norm_affine(Tensor(), Tensor(), in[0], in[1]);
                       return concat({a.scale, a.shift}, 0);
                     }});
    }
  return out;
}

std::vector<OpCase> group_norm_cases() {
  Generator gen(61);
  std::vector<OpCase> out;
  const auto add = [&](const Shape& s, int groups, Affine affine, FiniteDifferences fd = FiniteDifferences::Yes) {
    std::vector<OpInput> inputs = {grad_input(Tensor::normal(s, 0.5f, 2.0f, gen))};
    push_affine(inputs, s[1], affine, grad_input, gen);
    out.push_back({s.to_string() + ", " + std::to_string(groups) + " groups" + affine_name(affine), inputs,
                   [groups, affine](const std::vector<Tensor>& in) {
                     return affine == Affine::Yes ? group_norm(in[0], groups, in[1], in[2], 1e-5f)
                                                  : group_norm(in[0], groups, Tensor(), Tensor(), 1e-5f);
                   },
                   {},
                   fd});
  };
  add(Shape{2, 6, 3, 5}, 3, Affine::Yes);
  add(Shape{2, 6, 3, 5}, 1, Affine::Yes);
  add(Shape{2, 6, 3, 5}, 6, Affine::No);
  for (const int groups : {1, 32, 64}) add(Shape{2, 64, 5, 7}, groups, Affine::Yes);
  add(Shape{2, 64, 5, 7}, 32, Affine::No);
  add(Shape{3, 6, 33, 65}, 3, Affine::Yes);  // 4290 values per group: two reduction chunks
  add(Shape{3, 6, 33, 65}, 1, Affine::Yes);  // 12870 values per group
  add(Shape{4, 8, 61, 67}, 1, Affine::Yes);  // 32696 values per group
  add(Shape{4, 8, 61, 67}, 4, Affine::Yes);
  // One value per group: zero variance, y = x * scale + shift with scale = weight / sqrt(eps) ~ 300,
  // whose float rounding (~4e-5) is a few percent of a finite difference: compared on the GPU only.
  add(Shape{1, 32, 1, 1}, 32, Affine::Yes, FiniteDifferences::No);
  add(Shape{1, 5, 9, 11}, 5, Affine::No);    // N = 1, odd C, one channel per group
  add(Shape{4, 8, 9}, 2, Affine::Yes);       // [N, C, L]
  add(Shape{0, 4, 3, 3}, 2, Affine::Yes);    // no images
  add(Shape{2, 4, 0, 3}, 2, Affine::Yes);    // empty planes
  return out;
}

constexpr Tolerance kStatistics{1e-5, "the statistics are double sums of the same float terms on both sides "
                                      "(only the order differs), so they round to the same float or a "
                                      "neighbour; every output is a few float operations further: ~1e-6"};
constexpr Tolerance kStatisticsGradient{1e-4, "the input gradient subtracts two per-channel sums from M * dy "
                                              "(cancellation), and the weight and bias gradients are float sums "
                                              "of up to ~4e4 terms rounded once"};
constexpr Tolerance kAffineGradient{1e-5, "dx = dy * scale: one rounding, with a scale that may differ in the "
                                          "last bit"};

}  // namespace

std::vector<OpEntry> norm_entries() {
  return {
      {"batch_norm", kStatistics, kStatisticsGradient, std::nullopt, batch_norm_cases},
      {"frozen_batch_norm", kStatistics, kAffineGradient, std::nullopt, frozen_batch_norm_cases},
      {"frozen_batch_norm_affine", kStatistics, kNoGradient, std::nullopt, frozen_batch_norm_affine_cases},
      {"group_norm", kStatistics, kStatisticsGradient, std::nullopt, group_norm_cases},
  };
}

}  // namespace ghm::testing
