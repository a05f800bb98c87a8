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
#include <string>

#include "core/autograd.h"
#include "core/ops/conv.h"
#include "core/ops/matmul.h"
#include "core/ops/norm.h"
#include "core/ops/pool.h"
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

}  // namespace

TEST_CASE("fixtures: conv2d against PyTorch") {
  const Fixture f("conv2d");
  REQUIRE(f.num_cases >= 8);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = f.params(i);
    const Conv2dParams cp{int_at(p, "stride", 0),   int_at(p, "stride", 1),   int_at(p, "padding", 0),
                          int_at(p, "padding", 1),  int_at(p, "dilation", 0), int_at(p, "dilation", 1),
                          static_cast<int>(p.at("groups").as_int())};
    Tensor x = f.leaf(i, "input"), w = f.leaf(i, "weight");
    Tensor b = f.has(i, "bias") ? f.leaf(i, "bias") : Tensor();
    Tensor y = conv2d(x, w, b, cp);
    expect_close("output", y, f.get(i, "output"));
    y.backward(f.get(i, "grad_output"));
    expect_close("grad_input", x.grad(), f.get(i, "grad_input"));
    expect_close("grad_weight", w.grad(), f.get(i, "grad_weight"));
    if (b.defined()) expect_close("grad_bias", b.grad(), f.get(i, "grad_bias"));
  }
}

TEST_CASE("fixtures: batch norm (train and eval) against PyTorch") {
  for (const BatchNormMode mode : {BatchNormMode::Train, BatchNormMode::Eval}) {
    const bool train = mode == BatchNormMode::Train;
    const Fixture f(train ? "batch_norm_train" : "batch_norm_eval");
    for (int i = 0; i < f.num_cases; ++i) {
      CAPTURE(train);
      CAPTURE(i);
      const io::Json p = f.params(i);
      Tensor x = f.leaf(i, "input"), w = f.leaf(i, "weight"), b = f.leaf(i, "bias");
      Tensor rm = f.get(i, "running_mean").clone(), rv = f.get(i, "running_var").clone();
      const float momentum = train ? static_cast<float>(p.at("momentum").as_double()) : 0.1f;
      Tensor y = batch_norm(x, w, b, rm, rv, mode, momentum, static_cast<float>(p.at("eps").as_double()));
      expect_close("output", y, f.get(i, "output"));
      if (train) {
        expect_close("running_mean", rm, f.get(i, "running_mean_out"));
        expect_close("running_var", rv, f.get(i, "running_var_out"));
      }
      y.backward(f.get(i, "grad_output"));
      expect_close("grad_input", x.grad(), f.get(i, "grad_input"));
      expect_close("grad_weight", w.grad(), f.get(i, "grad_weight"));
      expect_close("grad_bias", b.grad(), f.get(i, "grad_bias"));
    }
  }
}

TEST_CASE("fixtures: frozen batch norm against torchvision's formula") {
  const Fixture f("frozen_batch_norm");
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    Tensor x = f.leaf(i, "input");
    Tensor y = frozen_batch_norm(x, f.get(i, "weight"), f.get(i, "bias"), f.get(i, "running_mean"),
                                 f.get(i, "running_var"), static_cast<float>(f.params(i).at("eps").as_double()));
    expect_close("output", y, f.get(i, "output"));
    y.backward(f.get(i, "grad_output"));
    expect_close("grad_input", x.grad(), f.get(i, "grad_input"));
  }
}

TEST_CASE("fixtures: group norm against PyTorch") {
  const Fixture f("group_norm");
  REQUIRE(f.num_cases >= 3);
  for (int i = 0; i < f.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = f.params(i);
    Tensor x = f.leaf(i, "input"), w = f.leaf(i, "weight"), b = f.leaf(i, "bias");
    Tensor y = group_norm(x, static_cast<int>(p.at("groups").as_int()), w, b, static_cast<float>(p.at("eps").as_double()));
    expect_close("output", y, f.get(i, "output"));
    y.backward(f.get(i, "grad_output"));
    expect_close("grad_input", x.grad(), f.get(i, "grad_input"));
    expect_close("grad_weight", w.grad(), f.get(i, "grad_weight"));
    expect_close("grad_bias", b.grad(), f.get(i, "grad_bias"));
  }
}

TEST_CASE("fixtures: max pool and nearest upsampling against PyTorch") {
  const Fixture pool("max_pool2d");
  for (int i = 0; i < pool.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = pool.params(i);
    const Pool2dParams pp{int_at(p, "kernel", 0), int_at(p, "kernel", 1), int_at(p, "stride", 0),
                          int_at(p, "stride", 1), int_at(p, "padding", 0), int_at(p, "padding", 1)};
    Tensor x = pool.leaf(i, "input");
    Tensor y = max_pool2d(x, pp);
    expect_close("output", y, pool.get(i, "output"));
    y.backward(pool.get(i, "grad_output"));
    expect_close("grad_input", x.grad(), pool.get(i, "grad_input"));
  }
  const Fixture up("upsample_nearest");
  for (int i = 0; i < up.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = up.params(i);
    Tensor x = up.leaf(i, "input");
    Tensor y = upsample_nearest(x, p.at("size").at(0).as_int(), p.at("size").at(1).as_int());
    expect_close("output", y, up.get(i, "output"));
    y.backward(up.get(i, "grad_output"));
    expect_close("grad_input", x.grad(), up.get(i, "grad_input"));
  }
}

TEST_CASE("fixtures: shape ops and matmul against PyTorch") {
  const Fixture perm("permute");
  for (int i = 0; i < perm.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = perm.params(i);
    std::vector<int> order;
    for (const io::Json& v : p.at("order").as_array()) order.push_back(static_cast<int>(v.as_int()));
    Tensor x = perm.leaf(i, "input");
    Tensor y = permute(x, order);
    expect_close("permute", y, perm.get(i, "output"));
    y.backward(perm.get(i, "grad_output"));
    expect_close("permute grad", x.grad(), perm.get(i, "grad_input"));
  }
  const Fixture nar("narrow");
  for (int i = 0; i < nar.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = nar.params(i);
    Tensor x = nar.leaf(i, "input");
    Tensor y = narrow(x, static_cast<int>(p.at("dim").as_int()), p.at("start").as_int(), p.at("length").as_int());
    expect_close("narrow", y, nar.get(i, "output"));
    y.backward(nar.get(i, "grad_output"));
    expect_close("narrow grad", x.grad(), nar.get(i, "grad_input"));
  }
  const Fixture cat("concat");
  for (int i = 0; i < cat.num_cases; ++i) {
    CAPTURE(i);
    const io::Json p = cat.params(i);
    std::vector<Tensor> xs;
    for (int k = 0; k < p.at("num_inputs").as_int(); ++k) xs.push_back(cat.leaf(i, "input" + std::to_string(k)));
    Tensor y = concat(xs, static_cast<int>(p.at("dim").as_int()));
    expect_close("concat", y, cat.get(i, "output"));
    y.backward(cat.get(i, "grad_output"));
    for (std::size_t k = 0; k < xs.size(); ++k)
      expect_close("concat grad " + std::to_string(k), xs[k].grad(), cat.get(i, "grad_input" + std::to_string(k)));
  }
  for (const char* family : {"index_select", "gather"}) {
    const Fixture f(family);
    const bool is_gather = std::string(family) == "gather";
    for (int i = 0; i < f.num_cases; ++i) {
      CAPTURE(family);
      CAPTURE(i);
      const int dim = static_cast<int>(f.params(i).at("dim").as_int());
      Tensor x = f.leaf(i, "input");
      Tensor y = is_gather ? gather(x, dim, f.get(i, "index")) : index_select(x, dim, f.get(i, "index"));
      expect_close("output", y, f.get(i, "output"));
      y.backward(f.get(i, "grad_output"));
      expect_close("grad_input", x.grad(), f.get(i, "grad_input"));
    }
  }
  const Fixture mm("matmul");
  for (int i = 0; i < mm.num_cases; ++i) {
    CAPTURE(i);
    Tensor a = mm.leaf(i, "a"), b = mm.leaf(i, "b");
    Tensor y = matmul(a, b);
    expect_close("matmul", y, mm.get(i, "output"));
    y.backward(mm.get(i, "grad_output"));
    expect_close("grad_a", a.grad(), mm.get(i, "grad_a"));
    expect_close("grad_b", b.grad(), mm.get(i, "grad_b"));
  }
}
