// The op table's GPU driver: every case of every entry (op_table.h) on CUDA against the CPU with
// the same inputs and the same upstream gradient, in full float32: the output, the inputs after
// the op (in-place updates), and the gradient of every differentiable input, within the entry's
// tolerances; a second CUDA run must give the same bits. Entries with a TF32 tolerance run again
// with TF32 allowed. Run only where a GPU is present.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "../cuda/compare.h"
#include "core/autograd.h"
#include "core/cuda/math_mode.h"
#include "op_table.h"

using namespace ghm;
using namespace ghm::testing;

namespace {

const Device kGpu = Device::cuda(0);

// What one run of a case leaves: the output, every input afterwards, every input's gradient.
struct CaseRun {
  Tensor y;
  std::vector<Tensor> inputs, grads;
};

// Fresh copies of the inputs on `device` (never the case's tensors: each run has its own
// gradients and in-place updates), the op, then the backward pass with the upstream gradient r.
CaseRun run_case(const OpCase& c, Device device, const Tensor& r) {
  CaseRun out;
  for (const OpInput& in : c.inputs) {
    Tensor t = device.is_cpu() ? in.value.clone() : in.value.to(device);
    if (in.differentiable) t.set_requires_grad(true);
    out.inputs.push_back(t);
  }
  out.y = c.run(out.inputs);
  REQUIRE(out.y.device() == device);
  bool any_differentiable = false;
  for (const OpInput& in : c.inputs) any_differentiable = any_differentiable || in.differentiable;
  if (any_differentiable) out.y.backward(r.to(device));
  for (std::size_t i = 0; i < c.inputs.size(); ++i)
    out.grads.push_back(c.inputs[i].differentiable ? out.inputs[i].grad() : Tensor());
  return out;
}

// The upstream gradient of a case, from a forward pass on copies of its inputs (an op may update
// an input in place).
Tensor upstream_for(const OpCase& c) {
  std::vector<Tensor> inputs;
  for (const OpInput& in : c.inputs) inputs.push_back(in.value.clone());
  const NoGradGuard no_grad;
  return upstream_gradient(c, inputs, c.run(inputs).shape());
}

void check_close(const Tensor& gpu, const Tensor& cpu, const Tolerance& tolerance, const std::string& what) {
  INFO(what << " (tolerance " << tolerance.max_error << ": " << tolerance.why << ")");
  REQUIRE(gpu.defined() == cpu.defined());
  if (!cpu.defined()) return;
  CHECK(gpu.device() == kGpu);
  if (tolerance.max_error == 0 || cpu.dtype() != DType::F32) {
    CHECK(bit_identical(gpu, cpu));
  } else {
    CHECK(normalised_error(gpu, cpu) <= tolerance.max_error);
  }
}

// The GPU run against the CPU run, and a second GPU run against the first, bit for bit.
void check_runs(const OpCase& c, const Tensor& r, const CaseRun& cpu, const Tolerance& forward,
                const Tolerance& backward) {
  const CaseRun gpu = run_case(c, kGpu, r), again = run_case(c, kGpu, r);
  check_close(gpu.y, cpu.y, forward, "output");
  CHECK_MESSAGE(bit_identical(again.y, gpu.y), "the output differs between two CUDA runs");
  for (std::size_t i = 0; i < c.inputs.size(); ++i) {
    const std::string input = "input " + std::to_string(i);
    check_close(gpu.inputs[i], cpu.inputs[i], forward, input + " after the op");
    check_close(gpu.grads[i], cpu.grads[i], backward, "gradient of " + input);
    CHECK_MESSAGE(bit_identical(again.grads[i], gpu.grads[i]), "the gradient of ", input,
                  " differs between two CUDA runs");
    CHECK_MESSAGE(bit_identical(again.inputs[i], gpu.inputs[i]), input, " after the op differs between two CUDA runs");
  }
}

}  // namespace

TEST_CASE("op table: every op on CUDA agrees with the CPU, forward and backward, with the same bits on every run") {
  int cases = 0;
  for (const OpEntry& entry : op_table()) {
    for (const OpCase& c : entry.cases()) {
      INFO(entry.op << ": " << c.name);
      const Tensor r = upstream_for(c);
      const CaseRun cpu = run_case(c, Device::cpu(), r);
      {
        const cuda::Tf32Scope full_float(false);
        check_runs(c, r, cpu, entry.forward, entry.backward);
      }
      if (entry.tf32) {
        INFO("TF32 allowed");
        const cuda::Tf32Scope tf32(true);
        check_runs(c, r, cpu, *entry.tf32, *entry.tf32);
      }
      ++cases;
    }
  }
  MESSAGE(cases, " cases compared");
}
