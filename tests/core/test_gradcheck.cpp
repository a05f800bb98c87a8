// Finite-difference checks of every differentiable op (see gradcheck.h for the method and the
// tolerance). Inputs are small, with odd sizes, and cover the parameter variants of each op.
#include "gradcheck.h"

#include "core/ops/conv.h"
#include "core/ops/matmul.h"
#include "core/ops/norm.h"
#include "core/ops/pool.h"
#include "core/ops/shape_ops.h"

using namespace ghm;
using namespace ghm::testing;

TEST_CASE("gradcheck: binary ops with broadcasting") {
  Generator gen(1);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {Shape{2, 3, 4, 5}, Shape{2, 3, 4, 5}},  // same shape
      {Shape{2, 3, 4, 5}, Shape{1, 3, 1, 1}},  // per channel
      {Shape{2, 3, 4, 5}, Shape{}},            // scalar
      {Shape{3, 1, 5}, Shape{4, 1}},           // both sides broadcast
      {Shape{7}, Shape{2, 7}},                 // leading dimension added
  };
  for (const auto& [sa, sb] : cases) {
    Tensor a = param(randn(sa, gen));
    Tensor b = param(Tensor::uniform(sb, 0.5f, 2.0f, gen));  // away from 0 for div
    gradcheck("add " + sa.to_string() + sb.to_string(), [](auto& in) { return add(in[0], in[1]); }, {a, b});
    gradcheck("sub", [](auto& in) { return sub(in[0], in[1]); }, {a, b});
    gradcheck("mul", [](auto& in) { return mul(in[0], in[1]); }, {a, b});
    gradcheck("div", [](auto& in) { return div(in[0], in[1]); }, {a, b});
  }
}

TEST_CASE("add_relu: equals relu(add) bit for bit, forward and backward, and passes gradcheck") {
  Generator gen(12);
  const std::vector<Shape> b_shapes = {Shape{2, 3, 4, 5}, Shape{1, 3, 1, 1}, Shape{}};
  for (const Shape& sb : b_shapes) {
    CAPTURE(sb);
    Tensor a1 = param(randn(Shape{2, 3, 4, 5}, gen)), b1 = param(randn(sb, gen));
    Tensor a2 = param(a1.detach().clone()), b2 = param(b1.detach().clone());
    const Tensor fused = add_relu(a1, b1), plain = relu(add(a2, b2));
    CHECK(fused.to_vector<float>() == plain.to_vector<float>());
    const Tensor g = randn(fused.shape(), gen);
    fused.backward(g);
    plain.backward(g);
    CHECK(a1.grad().to_vector<float>() == a2.grad().to_vector<float>());
    CHECK(b1.grad().to_vector<float>() == b2.grad().to_vector<float>());
    // Away from the kink (b = 0, |a| >= 0.02), the finite differences agree.
    Tensor a = param(spread_values(Shape{2, 3, 4, 5}, gen, 0.02f)), b = param(Tensor::zeros(sb));
    gradcheck("add_relu", [](auto& in) { return add_relu(in[0], in[1]); }, {a, b});
  }
}

TEST_CASE("gradcheck: unary and scalar ops") {
  Generator gen(2);
  Tensor x = param(spread_values(Shape{3, 5, 7}, gen, 0.02f));
  gradcheck("relu", [](auto& in) { return relu(in[0]); }, {x});
  gradcheck("sigmoid", [](auto& in) { return sigmoid(in[0]); }, {x});
  gradcheck("exp", [](auto& in) { return exp(in[0]); }, {x});
  gradcheck("neg", [](auto& in) { return neg(in[0]); }, {x});
  gradcheck("add_scalar", [](auto& in) { return add_scalar(in[0], 3.0f); }, {x});
  gradcheck("mul_scalar", [](auto& in) { return mul_scalar(in[0], -2.5f); }, {x});
  Tensor pos = param(Tensor::uniform(Shape{4, 9}, 0.5f, 3.0f, gen));
  gradcheck("log", [](auto& in) { return log(in[0]); }, {pos});
  gradcheck("clone", [](auto& in) { return in[0].clone(); }, {pos});
  gradcheck("reshape", [](auto& in) { return in[0].reshape({6, -1}); }, {pos});
}

TEST_CASE("gradcheck: reductions") {
  Generator gen(3);
  Tensor x = param(randn(Shape{2, 3, 4, 5}, gen));
  gradcheck("sum all", [](auto& in) { return sum(in[0]); }, {x});
  gradcheck("mean all", [](auto& in) { return mean(in[0]); }, {x});
  gradcheck("sum {0,2,3}", [](auto& in) { return sum(in[0], {0, 2, 3}); }, {x});
  gradcheck("sum {1} keepdim", [](auto& in) { return sum(in[0], {1}, KeepDim::Yes); }, {x});
  gradcheck("mean {-1,-2}", [](auto& in) { return mean(in[0], {-1, -2}); }, {x});
  gradcheck("mean {0,3} keepdim", [](auto& in) { return mean(in[0], {0, 3}, KeepDim::Yes); }, {x});
}

TEST_CASE("gradcheck: shape ops") {
  Generator gen(4);
  Tensor x = param(randn(Shape{2, 3, 4, 5}, gen));
  Tensor y = param(randn(Shape{2, 2, 4, 5}, gen));
  gradcheck("permute", [](auto& in) { return permute(in[0], {0, 2, 3, 1}); }, {x});
  gradcheck("narrow", [](auto& in) { return narrow(in[0], 3, 1, 3); }, {x});
  gradcheck("concat", [](auto& in) { return concat({in[0], in[1], in[0]}, 1); }, {x, y});
  const Tensor idx = Tensor::from_vector<std::int64_t>({3, 0, 3, 1, 3}, Shape{5});
  gradcheck("index_select", [&](auto& in) { return index_select(in[0], 2, idx); }, {x});
  std::vector<std::int64_t> gi;
  for (int i = 0; i < 2 * 3 * 6 * 5; ++i) gi.push_back(static_cast<std::int64_t>(gen.next_u64() % 4));
  const Tensor gidx = Tensor::from_vector(gi, Shape{2, 3, 6, 5});
  gradcheck("gather", [&](auto& in) { return gather(in[0], 2, gidx); }, {x});
}

TEST_CASE("gradcheck: matmul") {
  Generator gen(5);
  gradcheck("matmul 2d", [](auto& in) { return matmul(in[0], in[1]); },
            {param(randn(Shape{5, 7}, gen)), param(randn(Shape{7, 3}, gen))});
  gradcheck("matmul batched", [](auto& in) { return matmul(in[0], in[1]); },
            {param(randn(Shape{2, 4, 6}, gen)), param(randn(Shape{2, 6, 5}, gen))});
}

TEST_CASE("gradcheck: conv2d variants") {
  Generator gen(6);
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      {"3x3 s1 p1", {2, 3, 7, 6}, {4, 3, 3, 3}, Conv2dParams::square(1, 1), true},
      {"3x3 s2 p0 odd", {1, 2, 9, 7}, {3, 2, 3, 3}, Conv2dParams::square(2, 0), true},
      {"dilation 2", {1, 2, 8, 8}, {3, 2, 3, 3}, Conv2dParams::square(1, 2, 2), false},
      {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, Conv2dParams::square(1, 1, 1, 2), true},
      {"depthwise", {1, 3, 5, 6}, {3, 1, 3, 3}, Conv2dParams::square(1, 1, 1, 3), false},
      {"1x1", {3, 4, 3, 5}, {5, 4, 1, 1}, Conv2dParams::square(1, 0), true},
      {"1x1 stride 2", {1, 4, 7, 7}, {2, 4, 1, 1}, Conv2dParams::square(2, 0), false},
      {"3x1 asymmetric", {1, 2, 6, 5}, {2, 2, 3, 1}, Conv2dParams{1, 2, 1, 0, 1, 1, 1}, true},
  };
  for (const Case& c : cases) {
    Tensor x = param(randn(c.x, gen));
    Tensor w = param(randn(c.w, gen, 0.5f));
    Tensor b = c.bias ? param(randn(Shape{c.w[0]}, gen)) : Tensor();
    const std::vector<Tensor> in = c.bias ? std::vector<Tensor>{x, w, b} : std::vector<Tensor>{x, w};
    const Conv2dParams p = c.p;
    gradcheck(c.name, [p](auto& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), p); }, in);
  }
}

TEST_CASE("gradcheck: batch norm (train, eval) and frozen batch norm") {
  Generator gen(7);
  Tensor x = param(randn(Shape{3, 4, 3, 5}, gen));
  Tensor w = param(Tensor::uniform(Shape{4}, 0.5f, 1.5f, gen));
  Tensor b = param(randn(Shape{4}, gen));
  const Tensor rm0 = randn(Shape{4}, gen), rv0 = Tensor::uniform(Shape{4}, 0.5f, 2.0f, gen);
  // The statistics (and so y) depend on the whole batch: a loose eps would see curvature; 1e-3 is fine.
  gradcheck("batch_norm train", [&](auto& in) {
    Tensor rm = rm0.clone(), rv = rv0.clone();
    return batch_norm(in[0], in[1], in[2], rm, rv, BatchNormMode::Train);
  }, {x, w, b});
  gradcheck("batch_norm eval", [&](auto& in) {
    Tensor rm = rm0.clone(), rv = rv0.clone();
    return batch_norm(in[0], in[1], in[2], rm, rv, BatchNormMode::Eval);
  }, {x, w, b});
  gradcheck("frozen_batch_norm", [&](auto& in) { return frozen_batch_norm(in[0], w.detach(), b.detach(), rm0, rv0); },
            {x});
}

TEST_CASE("gradcheck: max pool and nearest upsampling") {
  Generator gen(8);
  Tensor x = param(spread_values(Shape{2, 2, 9, 11}, gen));
  gradcheck("max_pool2d 3x3 s2 p1", [](auto& in) { return max_pool2d(in[0], Pool2dParams::square(3, 2, 1)); }, {x});
  gradcheck("max_pool2d 2x2 s2", [](auto& in) { return max_pool2d(in[0], Pool2dParams::square(2, 2, 0)); }, {x});
  Tensor y = param(randn(Shape{1, 3, 5, 7}, gen));
  gradcheck("upsample x2", [](auto& in) { return upsample_nearest(in[0], 10, 14); }, {y});
  gradcheck("upsample 12x15", [](auto& in) { return upsample_nearest(in[0], 12, 15); }, {y});
  gradcheck("downsample 3x4", [](auto& in) { return upsample_nearest(in[0], 3, 4); }, {y});
}

TEST_CASE("gradcheck: group norm") {
  Generator gen(10);
  Tensor x = param(randn(Shape{2, 6, 3, 5}, gen));
  Tensor w = param(Tensor::uniform(Shape{6}, 0.5f, 1.5f, gen));
  Tensor b = param(randn(Shape{6}, gen));
  gradcheck("group_norm 3 groups", [](auto& in) { return group_norm(in[0], 3, in[1], in[2]); }, {x, w, b});
  gradcheck("group_norm 1 group", [](auto& in) { return group_norm(in[0], 1, in[1], in[2]); }, {x, w, b});
  gradcheck("group_norm without affine", [](auto& in) { return group_norm(in[0], 6, Tensor(), Tensor()); }, {x});
}
