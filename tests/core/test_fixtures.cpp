// Outputs and gradients of the core ops against PyTorch, from fixtures that
// tools/make_fixtures_core.py wrote (tests/data/core_<family>.safetensors; names `case<i>.<tensor>`,
// parameters as JSON in the metadata entry `case<i>`).
//
// Tolerance (why): PyTorch (oneDNN) and we sum the same products in different orders; in float32
// that moves a result by a few ulp of the largest partial sum. We compare the normalised error
// max|ours - ref| / max(1, max|ref|) against 2e-5: ~100x the observed float32 noise at these sizes,
// while a wrong index or formula gives errors of order 1.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/ops/conv.h"
#include "core/ops/matmul.h"
#include "core/ops/norm.h"
#include "core/ops/pool.h"
#include "core/ops/roi_align.h"
#include "core/ops/shape_ops.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "case_fixture.h"

using namespace ghm;

namespace {

constexpr double kTolerance = 2e-5;

struct Fixture : testing::CaseFixture {
  explicit Fixture(const std::string& family) : CaseFixture("core_" + family) {}
};

void expect_close(const std::string& what, const Tensor& ours, const Tensor& ref) {
  CAPTURE(what);
  REQUIRE(ours.defined());
  REQUIRE(ours.shape() == ref.shape());
  const float* a = ours.data<float>();
  const float* b = ref.data<float>();
  double max_err = 0, max_ref = 1;
  for (std::int64_t i = 0; i < ref.numel(); ++i) {
    max_err = std::max(max_err, static_cast<double>(std::abs(a[i] - b[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::abs(b[i])));
  }
  CHECK(max_err / max_ref <= kTolerance);
}

int int_at(const io::Json& j, const char* key, std::size_t i) { return static_cast<int>(j.at(key).at(i).as_int()); }

// A case's forward pass: its output, and its leaves, each under the name of the fixture tensor
// that holds the leaf's expected gradient.
struct Forward {
  Tensor output;
  std::vector<std::pair<std::string, Tensor>> grads;
};
using ForwardFn = std::function<Forward(const Fixture& f, int i)>;

// For every case i of the family (at least `min_cases`): runs the forward pass, compares its output
// with the fixture's `output`, runs backward from `grad_output` and compares each leaf's gradient.
void check_cases(const std::string& family, const ForwardFn& forward, int min_cases = 1) {
  const Fixture f(family);
  REQUIRE(f.num_cases >= min_cases);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(family);
    CAPTURE(i);
    Forward run = forward(f, i);
    expect_close("output", run.output, f.get(i, "output"));
    run.output.backward(f.get(i, "grad_output"));
    for (const auto& [name, leaf] : run.grads) expect_close(name, leaf.grad(), f.get(i, name));
  }
}

}  // namespace

TEST_CASE("fixtures: conv2d against PyTorch") {
  const auto forward = [](const Fixture& f, int i) {
    const io::Json p = f.params(i);
    const Conv2dParams cp{int_at(p, "stride", 0),   int_at(p, "stride", 1),   int_at(p, "padding", 0),
                          int_at(p, "padding", 1),  int_at(p, "dilation", 0), int_at(p, "dilation", 1),
                          static_cast<int>(p.at("groups").as_int())};
    Tensor x = f.leaf(i, "input"), w = f.leaf(i, "weight");
    Tensor b = f.has(i, "bias") ? f.leaf(i, "bias") : Tensor();
    Forward run{conv2d(x, w, b, cp), {{"grad_input", x}, {"grad_weight", w}}};
    if (b.defined()) run.grads.emplace_back("grad_bias", b);
    return run;
  };
  check_cases("conv2d", forward, 8);
}

TEST_CASE("fixtures: batch norm (train and eval) against PyTorch") {
  for (const BatchNormMode mode : {BatchNormMode::Train, BatchNormMode::Eval}) {
    const bool train = mode == BatchNormMode::Train;
    check_cases(train ? "batch_norm_train" : "batch_norm_eval", [&](const Fixture& f, int i) {
      const io::Json p = f.params(i);
      Tensor x = f.leaf(i, "input"), w = f.leaf(i, "weight"), b = f.leaf(i, "bias");
      Tensor rm = f.get(i, "running_mean").clone(), rv = f.get(i, "running_var").clone();
      const float momentum = train ? static_cast<float>(p.at("momentum").as_double()) : 0.1f;
      Tensor y = batch_norm(x, w, b, rm, rv, mode, momentum, static_cast<float>(p.at("eps").as_double()));
      if (train) {
        expect_close("running_mean", rm, f.get(i, "running_mean_out"));
        expect_close("running_var", rv, f.get(i, "running_var_out"));
      }
      return Forward{y, {{"grad_input", x}, {"grad_weight", w}, {"grad_bias", b}}};
    });
  }
}

TEST_CASE("fixtures: frozen batch norm against torchvision's formula") {
  check_cases("frozen_batch_norm", [](const Fixture& f, int i) {
    Tensor x = f.leaf(i, "input");
    Tensor y = frozen_batch_norm(x, f.get(i, "weight"), f.get(i, "bias"), f.get(i, "running_mean"),
                                 f.get(i, "running_var"), static_cast<float>(f.params(i).at("eps").as_double()));
    return Forward{y, {{"grad_input", x}}};
  });
}

TEST_CASE("fixtures: group norm against PyTorch") {
  const auto forward = [](const Fixture& f, int i) {
    const io::Json p = f.params(i);
    Tensor x = f.leaf(i, "input"), w = f.leaf(i, "weight"), b = f.leaf(i, "bias");
    Tensor y = group_norm(x, static_cast<int>(p.at("groups").as_int()), w, b, static_cast<float>(p.at("eps").as_double()));
    return Forward{y, {{"grad_input", x}, {"grad_weight", w}, {"grad_bias", b}}};
  };
  check_cases("group_norm", forward, 3);
}

TEST_CASE("fixtures: max pool and nearest upsampling against PyTorch") {
  check_cases("max_pool2d", [](const Fixture& f, int i) {
    const io::Json p = f.params(i);
    const Pool2dParams pp{int_at(p, "kernel", 0), int_at(p, "kernel", 1), int_at(p, "stride", 0),
                          int_at(p, "stride", 1), int_at(p, "padding", 0), int_at(p, "padding", 1)};
    Tensor x = f.leaf(i, "input");
    return Forward{max_pool2d(x, pp), {{"grad_input", x}}};
  });
  check_cases("upsample_nearest", [](const Fixture& f, int i) {
    const io::Json size = f.params(i).at("size");
    Tensor x = f.leaf(i, "input");
    return Forward{upsample_nearest(x, size.at(0).as_int(), size.at(1).as_int()), {{"grad_input", x}}};
  });
}

TEST_CASE("fixtures: RoIAlign against torchvision.ops.roi_align") {
  check_cases("roi_align", [](const Fixture& f, int i) {
    const io::Json p = f.params(i);
    const RoiAlignParams rp{int_at(p, "output_size", 0), int_at(p, "output_size", 1),
                            static_cast<float>(p.at("spatial_scale").as_double()),
                            static_cast<int>(p.at("sampling_ratio").as_int()), p.at("aligned").as_bool()};
    Tensor x = f.leaf(i, "input");
    return Forward{roi_align(x, f.get(i, "rois"), rp), {{"grad_input", x}}};
  }, 5);
}

TEST_CASE("fixtures: shape ops and matmul against PyTorch") {
  check_cases("permute", [](const Fixture& f, int i) {
    const io::Json p = f.params(i);
    std::vector<int> order;
    for (const io::Json& v : p.at("order").as_array()) order.push_back(static_cast<int>(v.as_int()));
    Tensor x = f.leaf(i, "input");
    return Forward{permute(x, order), {{"grad_input", x}}};
  });
  check_cases("narrow", [](const Fixture& f, int i) {
    const io::Json p = f.params(i);
    Tensor x = f.leaf(i, "input");
    return Forward{narrow(x, static_cast<int>(p.at("dim").as_int()), p.at("start").as_int(), p.at("length").as_int()),
                   {{"grad_input", x}}};
  });
  check_cases("concat", [](const Fixture& f, int i) {
    const io::Json p = f.params(i);
    Forward run;
    std::vector<Tensor> xs;
    for (int k = 0; k < p.at("num_inputs").as_int(); ++k) {
      xs.push_back(f.leaf(i, "input" + std::to_string(k)));
      run.grads.emplace_back("grad_input" + std::to_string(k), xs.back());
    }
    run.output = concat(xs, static_cast<int>(p.at("dim").as_int()));
    return run;
  });
  for (const std::string family : {"index_select", "gather"}) {
    check_cases(family, [&](const Fixture& f, int i) {
      const int dim = static_cast<int>(f.params(i).at("dim").as_int());
      Tensor x = f.leaf(i, "input");
      Tensor y = family == "gather" ? gather(x, dim, f.get(i, "index")) : index_select(x, dim, f.get(i, "index"));
      return Forward{y, {{"grad_input", x}}};
    });
  }
  check_cases("matmul", [](const Fixture& f, int i) {
    Tensor a = f.leaf(i, "a"), b = f.leaf(i, "b");
    return Forward{matmul(a, b), {{"grad_a", a}, {"grad_b", b}}};
  });
}
