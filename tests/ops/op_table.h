// The op table: every core op (core/ops/*.h, plus Tensor::clone and Tensor::reshape) registered
// once, with the inputs to try it on, how to run it, and how closely the CUDA backend must agree
// with the CPU. Three tests read it:
//
//   test_op_gradients.cpp (CPU, every build): for every case small enough (at most
//     kFiniteDifferenceElements differentiable input elements) and free of ties and non-finite
//     values, the autograd gradient of every differentiable input against central differences
//     (tests/core/gradcheck.h, its tolerance and the reason for it). An entry with differentiable
//     inputs but no such case fails.
//   test_cuda_ops.cpp (GPU suite, skipped without a GPU): for every case, the same inputs on CUDA
//     and on the CPU, in full float32: the output, the inputs afterwards (batch_norm updates its
//     running buffers in place) and, with the same upstream gradient, the gradient of every
//     differentiable input, compared with the entry's tolerances (normalised error,
//     tests/cuda/compare.h; 0 means bit for bit); a second CUDA run must give the same bits.
//     Entries with a TF32 tolerance run again with TF32 allowed (core/cuda/math_mode.h).
//   test_op_coverage.cpp (CPU, every build): the table against the sources, so that an op cannot
//     land without an entry. The ops are read from the sources themselves (the test gets the
//     source tree from tests/test_paths.h): every function declared in core/ops/*.h that
//     takes a tensor (the public op API; each one runs its CPU or its CUDA kernel by the operands'
//     device), and every op name that core/ passes to record_op (the ops with a backward, Tensor
//     methods included). A list kept by hand, or a registry in core/ops, could itself be forgotten
//     when an op is added and would put test bookkeeping into the library; a declaration or a
//     record_op call cannot be left out, since the op does not exist without them. A name found
//     there must be the `op` of an entry, or be exempted in that test with a reason; an entry must
//     name an op that exists. Overloads share a name (sum(x) and sum(x, dims)): one entry has cases
//     for each.
//
// To add an op: write a function returning its cases in the family's file (op_table_*.cpp) and
// add one OpEntry to that file's list, with the tolerances and the reason for each. Cases should
// include odd sizes that are not a multiple of a block (256 threads), a single element, and
// empty inputs where the op allows them; large cases (several blocks, long reductions) run on the
// GPU only, by their size. Inputs are made on the CPU from a fixed seed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace ghm::testing {

// Runs the op on the case's inputs (all on one device) and returns its output.
using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct OpInput {
  Tensor value;         // on the CPU
  bool differentiable;  // an f32 input whose gradient is checked
};

// No: central differences cannot measure this case (inputs on ties, NaN or infinities, or an
// output that amplifies rounding); the GPU driver still runs it.
enum class FiniteDifferences { Yes, No };

struct OpCase {
  std::string name;  // what the case exercises, for messages
  std::vector<OpInput> inputs;
  OpFn run;
  // Optional: the values (output-shaped) whose sign decides the op's gradient, e.g. the
  // pre-activation of a fused ReLU. The upstream gradient is 0 where |kink| < kKinkMargin, so
  // neither the finite differences nor the two backends' rounding can cross the kink.
  OpFn kink = {};
  FiniteDifferences finite_differences = FiniteDifferences::Yes;
};

// A bound on the normalised error max |cuda - cpu| / max(1, max |cpu|); 0 means bit for bit.
struct Tolerance {
  double max_error;
  const char* why;
};

struct OpEntry {
  const char* op;      // the core function (or Tensor method) the cases call: the coverage key
  Tolerance forward;   // the output, and inputs updated in place
  Tolerance backward;  // the gradients of the differentiable inputs
  std::optional<Tolerance> tf32;  // also compared with TF32 allowed, forward and backward
  std::function<std::vector<OpCase>()> cases;
};

// The backward tolerance of an entry whose inputs are all non-differentiable.
constexpr Tolerance kNoGradient{0, "not differentiable: no gradient to compare"};

constexpr std::int64_t kFiniteDifferenceElements = 600;
// Finite differences move an input by eps = 1e-3 (a pre-activation by less than 1e-3 here); TF32
// rounding moves a convolution's output by about 1e-3: 1e-2 leaves room for both.
constexpr float kKinkMargin = 1e-2f;

const std::vector<OpEntry>& op_table();

// Whether the CPU driver checks this case by finite differences (see the top comment).
bool finite_differences_apply(const OpCase& c);

// The upstream gradient of a case, for both drivers: uniform in [-1, 1] from a fixed seed, 0 near
// the kink. `inputs` are the case's inputs on the CPU; `y_shape` the output's shape.
Tensor upstream_gradient(const OpCase& c, const std::vector<Tensor>& inputs, const Shape& y_shape);

// Building blocks of the cases.
inline OpInput grad_input(Tensor t) { return {std::move(t), true}; }
inline OpInput const_input(Tensor t) { return {std::move(t), false}; }
// An index tensor of `s` with values in [0, limit), as i64 or i32.
Tensor random_index(const Shape& s, std::int64_t limit, DType dtype, Generator& gen);
std::string describe(const std::vector<int>& v);  // "{0, 2, 1}"

// The entries of each family, one file each.
std::vector<OpEntry> elementwise_entries();  // op_table_elementwise.cpp (and the reductions)
std::vector<OpEntry> shape_entries();        // op_table_shape.cpp (and the index ops)
std::vector<OpEntry> layer_entries();        // op_table_layers.cpp: conv, matmul, pooling
std::vector<OpEntry> norm_entries();         // op_table_norm.cpp: batch, frozen and group norm

}  // namespace ghm::testing
