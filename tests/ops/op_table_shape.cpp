// Op table entries: the shape ops (core/ops/shape_ops.h: permute, narrow, concat, and the index ops
// index_select and gather; Tensor::reshape and Tensor::clone). They only move values, so CUDA must
// equal the CPU bit for bit, forward and backward: the index ops' backward adds each destination's
// terms from 0 in increasing source position on both backends (repeated indices make a different
// order visible). See op_table.h for what the drivers do with the entries.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "core/ops/shape_ops.h"
#include "op_table.h"

namespace ghm::testing {
namespace {

constexpr Tolerance kMovesValues{0, "values are only moved: bit for bit"};
constexpr Tolerance kSameOrderSums{0, "gradients are moved, or summed from 0 in the same order on both "
                                      "backends: bit for bit"};

// Distinct values of any element type (so a misplaced element shows).
Tensor counting(const Shape& s, DType dtype) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(s.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int64_t>(i * 13 + 5);
  return Tensor::from_vector(v, s).to(dtype);
}

// Every order of each shape (coalescing to transposes, plain copies, size-1 dimensions), for f32
// (differentiable) and the other element sizes (forward only).
std::vector<OpCase> permute_cases() {
  Generator gen(43);
  std::vector<OpCase> out;
  for (const Shape& s : {Shape{5}, Shape{1, 1, 1}, Shape{3, 33}, Shape{2, 1, 40, 3}, Shape{2, 3, 4, 5},
                         Shape{2, 9, 33, 35}, Shape{3, 2, 1, 4, 5}}) {
    std::vector<int> order(static_cast<std::size_t>(s.ndim()));
    std::iota(order.begin(), order.end(), 0);
    do {
      const OpFn f = [order](const std::vector<Tensor>& in) { return permute(in[0], order); };
      out.push_back(
          {"f32 " + s.to_string() + " order " + describe(order), {grad_input(Tensor::normal(s, 0, 1, gen))}, f});
      for (const DType dtype : {DType::I64, DType::U8})
        out.push_back({std::string(dtype_name(dtype)) + " " + s.to_string() + " order " + describe(order),
                       {const_input(counting(s, dtype))}, f});
    } while (std::next_permutation(order.begin(), order.end()));
  }
  return out;
}

std::vector<OpCase> narrow_cases() {
  Generator gen(47);
  std::vector<OpCase> out;
  const auto add = [&](const Shape& s, int dim, std::int64_t start, std::int64_t length) {
    out.push_back({s.to_string() + " dim " + std::to_string(dim) + " [" + std::to_string(start) + ", +" +
                       std::to_string(length) + ")",
                   {grad_input(Tensor::normal(s, 0, 1, gen))},
                   [=](const std::vector<Tensor>& in) { return narrow(in[0], dim, start, length); }});
  };
  for (int dim = 0; dim < 4; ++dim) add(Shape{2, 3, 5, 7}, dim, 1, Shape{2, 3, 5, 7}[dim] - 1);
  add(Shape{2, 3, 4, 5}, 3, 1, 3);
  add(Shape{1}, 0, 0, 1);
  add(Shape{4, 6}, 1, 2, 0);  // nothing selected
  add(Shape{3, 70, 300}, 2, 13, 257);
  return out;
}

std::vector<OpCase> concat_cases() {
  Generator gen(53);
  std::vector<OpCase> out;
  const auto add = [&](const std::vector<Shape>& shapes, int dim) {
    std::vector<OpInput> inputs;
    std::string name;
    for (const Shape& s : shapes) {
      inputs.push_back(grad_input(Tensor::normal(s, 0, 1, gen)));
      name += (name.empty() ? "" : " + ") + s.to_string();
    }
    out.push_back({name + " along " + std::to_string(dim), inputs,
                   [dim](const std::vector<Tensor>& in) { return concat(in, dim); }});
  };
  add({Shape{2, 3, 5, 7}, Shape{2, 4, 5, 7}}, 1);
  add({Shape{2, 3, 4, 5}, Shape{2, 2, 4, 5}, Shape{2, 1, 4, 5}}, 1);
  add({Shape{3, 5}, Shape{1, 5}}, 0);
  add({Shape{3, 5}, Shape{3, 257}}, -1);
  add({Shape{1}}, 0);
  add({Shape{2, 0, 3}, Shape{2, 4, 3}}, 1);  // an empty piece
  // The same tensor twice: its gradient is the sum of both slices.
  out.push_back({"[2,3,4,5] + [2,2,4,5] + the first again, along 1",
                 {grad_input(Tensor::normal(Shape{2, 3, 4, 5}, 0, 1, gen)),
                  grad_input(Tensor::normal(Shape{2, 2, 4, 5}, 0, 1, gen))},
                 [](const std::vector<Tensor>& in) { return concat({in[0], in[1], in[0]}, 1); }});
  return out;
}

std::vector<OpCase> reshape_cases() {
  Generator gen(59);
  std::vector<OpCase> out;
  out.push_back({"[4,9] to [6,-1]", {grad_input(Tensor::normal(Shape{4, 9}, 0, 1, gen))},
                 [](const std::vector<Tensor>& in) { return in[0].reshape({6, -1}); }});
  out.push_back({"[] to [1,1]", {grad_input(Tensor::normal(Shape{}, 0, 1, gen))},
                 [](const std::vector<Tensor>& in) { return in[0].reshape({1, 1}); }});
  out.push_back({"[0,3] to [3,0]", {grad_input(Tensor::normal(Shape{0, 3}, 0, 1, gen))},
                 [](const std::vector<Tensor>& in) { return in[0].reshape({3, 0}); }});
  return out;
}

std::vector<OpCase> clone_cases() {
  Generator gen(61);
  std::vector<OpCase> out;
  for (const Shape& s : {Shape{4, 9}, Shape{1}, Shape{0}, Shape{100003}})
    out.push_back({s.to_string(), {grad_input(Tensor::normal(s, 0, 1, gen))},
                   [](const std::vector<Tensor>& in) { return in[0].clone(); }});
  return out;
}

OpCase index_case(const char* op, const Shape& xs, int dim, Tensor index, Generator& gen) {
  const bool select = std::string(op) == "index_select";
  return {xs.to_string() + " along " + std::to_string(dim) + ", index " + index.shape().to_string() + " " +
              dtype_name(index.dtype()),
          {grad_input(Tensor::normal(xs, 0, 1, gen)), const_input(std::move(index))},
          [select, dim](const std::vector<Tensor>& in) {
            return select ? index_select(in[0], dim, in[1]) : gather(in[0], dim, in[1]);
          }};
}

// Every dimension, repeats (9 picks of at most 6 rows), one index, none, i32 and i64 indices, a
// negative dimension, rows longer than a block and long runs of a few rows.
std::vector<OpCase> index_select_cases() {
  Generator gen(11);
  std::vector<OpCase> out;
  const Shape xs{4, 5, 6};
  for (const DType dtype : {DType::I64, DType::I32}) {
    for (int dim = 0; dim < 3; ++dim) {
      out.push_back(index_case("index_select", xs, dim, random_index(Shape{9}, xs[dim], dtype, gen), gen));
      out.push_back(index_case("index_select", xs, dim, random_index(Shape{1}, xs[dim], dtype, gen), gen));
      out.push_back(index_case("index_select", xs, dim, random_index(Shape{0}, xs[dim], dtype, gen), gen));
    }
    out.push_back(index_case("index_select", xs, -1, random_index(Shape{4}, xs[2], dtype, gen), gen));
  }
  out.push_back(index_case("index_select", Shape{2, 3, 4, 5}, 2,
                           Tensor::from_vector<std::int64_t>({3, 0, 3, 1, 3}, Shape{5}), gen));
  out.push_back(index_case("index_select", Shape{7, 300}, 0, random_index(Shape{1001}, 7, DType::I64, gen), gen));
  out.push_back(index_case("index_select", Shape{7, 300}, 1, random_index(Shape{513}, 300, DType::I32, gen), gen));
  out.push_back(index_case("index_select", Shape{3, 2000, 3}, 1, random_index(Shape{5000}, 17, DType::I64, gen), gen));
  out.push_back(index_case("index_select", Shape{1237, 4}, 0, random_index(Shape{45}, 1237, DType::I64, gen), gen));
  out.push_back(index_case("index_select", Shape{1}, 0, Tensor::from_vector<std::int64_t>({0, 0, 0}, Shape{3}), gen));
  return out;
}

// Every dimension; index shapes equal to x, smaller than x (and longer along dim: repeats), and
// empty along dim; i32 and i64; long runs.
std::vector<OpCase> gather_cases() {
  Generator gen(12);
  std::vector<OpCase> out;
  const Shape xs{4, 5, 6};
  for (const DType dtype : {DType::I64, DType::I32})
    for (int dim = 0; dim < 3; ++dim) {
      out.push_back(index_case("gather", xs, dim, random_index(xs, xs[dim], dtype, gen), gen));
      Shape smaller{3, 4, 2};
      smaller[dim] = 9;
      out.push_back(index_case("gather", xs, dim, random_index(smaller, xs[dim], dtype, gen), gen));
      Shape empty = xs;
      empty[dim] = 0;
      out.push_back(index_case("gather", xs, dim, random_index(empty, xs[dim], dtype, gen), gen));
    }
  out.push_back(index_case("gather", Shape{3, 700}, 1, random_index(Shape{3, 1500}, 700, DType::I64, gen), gen));
  out.push_back(index_case("gather", Shape{2000, 3}, 0, random_index(Shape{4001, 2}, 5, DType::I32, gen), gen));
  out.push_back(index_case("gather", Shape{2, 3, 4, 5}, 2, random_index(Shape{2, 3, 6, 5}, 4, DType::I64, gen), gen));
  out.push_back(index_case("gather", Shape{1}, 0, Tensor::from_vector<std::int32_t>({0}, Shape{1}), gen));
  return out;
}

}  // namespace

std::vector<OpEntry> shape_entries() {
  return {
      {"permute", kMovesValues, kMovesValues, std::nullopt, permute_cases},
      {"narrow", kMovesValues, kMovesValues, std::nullopt, narrow_cases},
      {"concat", kMovesValues, kSameOrderSums, std::nullopt, concat_cases},
      {"reshape", kMovesValues, kMovesValues, std::nullopt, reshape_cases},
      {"clone", kMovesValues, kMovesValues, std::nullopt, clone_cases},
      {"index_select", kMovesValues, kSameOrderSums, std::nullopt, index_select_cases},
      {"gather", kMovesValues, kSameOrderSums, std::nullopt, gather_cases},
  };
}

}  // namespace ghm::testing
