// Tensor basics: creation, typed access, reshape/view, conversions, printing and the errors that
// name the op and the shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "core/ops/elementwise.h"
#include "core/ops/shape_ops.h"
#include "core/random.h"
#include "core/runtime_info.h"
#include "core/tensor.h"

using namespace ghm;

TEST_CASE("tensor: creation and typed access") {
  Tensor z = Tensor::zeros(Shape{2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.dtype() == DType::F32);
  CHECK(z.device() == Device::cpu());
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(Tensor::ones(Shape{4}, DType::I32).to_vector<std::int32_t>() == std::vector<std::int32_t>{1, 1, 1, 1});
  CHECK(Tensor::full(Shape{2}, 7.5).to_vector<float>() == std::vector<float>{7.5f, 7.5f});
  CHECK(Tensor::arange(4, DType::I64).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(Tensor::full(Shape{3}, 200, DType::U8).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{200, 200, 200});
  CHECK(Tensor::scalar(2.5f).item() == 2.5f);
  CHECK(Tensor::scalar(2.5f).dim() == 0);
  CHECK(Tensor::empty(Shape{0, 3}).numel() == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(Tensor::empty(Shape{5}).raw_data()) % 64 == 0);
  CHECK_THROWS_WITH_AS(Tensor::zeros(Shape{2}).data<std::int32_t>(), doctest::Contains("accessed as i32"), Error);
  CHECK_THROWS_WITH_AS(Shape({1, 2, 3, 4, 5, 6, 7}), doctest::Contains("at most 6"), Error);
  CHECK_THROWS_WITH_AS(Tensor::zeros(Shape{2, 2}).item(), doctest::Contains("not one"), Error);
  CHECK_THROWS_AS(Tensor::empty(Shape{2}, DType::F32, Device::cuda(0)), Error);
}

TEST_CASE("tensor: seeded random generation is reproducible and has the right moments") {
  Generator a(42), b(42), c(43);
  const Tensor x = Tensor::normal(Shape{10000}, 1.0f, 2.0f, a);
  CHECK(x.to_vector<float>() == Tensor::normal(Shape{10000}, 1.0f, 2.0f, b).to_vector<float>());
  CHECK(x.to_vector<float>() != Tensor::normal(Shape{10000}, 1.0f, 2.0f, c).to_vector<float>());
  double s = 0, sq = 0;
  for (float v : x.to_vector<float>()) {
    s += v;
    sq += (v - 1.0) * (v - 1.0);
  }
  // 10000 samples: the mean's standard error is 0.02, the std's ~0.014; 5 sigma bounds.
  CHECK(std::abs(s / 10000 - 1.0) < 0.1);
  CHECK(std::abs(std::sqrt(sq / 10000) - 2.0) < 0.07);
  const Tensor u = Tensor::uniform(Shape{1000}, -3.0f, -1.0f, a);
  for (float v : u.to_vector<float>()) CHECK((v >= -3.0f && v < -1.0f));
}

TEST_CASE("tensor: reshape shares storage, clone copies, conversions") {
  Tensor x = Tensor::arange(12);
  Tensor y = x.reshape({3, -1});
  CHECK(y.shape() == Shape{3, 4});
  CHECK(y.shares_storage_with(x));
  CHECK(x.view(Shape{2, 2, 3}).shape() == Shape{2, 2, 3});
  Tensor c = x.clone();
  CHECK_FALSE(c.shares_storage_with(x));
  c.data<float>()[0] = 100;
  CHECK(x.data<float>()[0] == 0.0f);
  CHECK_THROWS_WITH_AS(x.reshape({5, -1}), doctest::Contains("cannot infer"), Error);
  CHECK_THROWS_WITH_AS(x.reshape(Shape{5, 3}), doctest::Contains("cannot become"), Error);
  CHECK(Tensor::from_vector<float>({1.7f, -2.2f}, Shape{2}).to(DType::I32).to_vector<std::int32_t>() ==
        std::vector<std::int32_t>{1, -2});
}

TEST_CASE("tensor: copy_from writes in place, move_storage_to moves leaves only") {
  Tensor a = Tensor::zeros(Shape{2, 3});
  const Tensor alias = a;
  a.copy_from(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  CHECK(alias.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK_THROWS_WITH_AS(a.copy_from(Tensor::zeros(Shape{3, 2})), doctest::Contains("shape [3, 2]"), Error);
  CHECK_THROWS_AS(a.copy_from(Tensor::zeros(Shape{2, 3}, DType::I64)), Error);

  Tensor leaf = Tensor::ones(Shape{4});
  leaf.set_requires_grad(true);
  leaf.move_storage_to(Device::cpu());  // already there: nothing changes
  CHECK(leaf.requires_grad());
  const Tensor y = mul(leaf, leaf);
  Tensor not_leaf = y;
  CHECK_THROWS_WITH_AS(not_leaf.move_storage_to(Device::cpu()), doctest::Contains("only leaf tensors"), Error);
}

TEST_CASE("tensor: printing names shape, dtype and values") {
  const std::string s = Tensor::arange(20).reshape(Shape{4, 5}).to_string(3);
  CHECK(s.find("[4, 5]") != std::string::npos);
  CHECK(s.find("f32") != std::string::npos);
  CHECK(s.find("0, 1, 2, ...") != std::string::npos);
  CHECK(Tensor().to_string() == "Tensor(undefined)");
}

TEST_CASE("tensor: op errors name the op and the shapes") {
  const Tensor a = Tensor::zeros(Shape{2, 3}), b = Tensor::zeros(Shape{4});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("add: shapes [2, 3] and [4] do not broadcast"), Error);
  CHECK_THROWS_WITH_AS(mul(a, Tensor::zeros(Shape{2, 3}, DType::I64)), doctest::Contains("must be f32, got i64"), Error);
}

TEST_CASE("elementwise: broadcasting values") {
  const Tensor a = Tensor::arange(6).reshape(Shape{2, 3});
  const Tensor col = Tensor::from_vector<float>({10, 20}, Shape{2, 1});
  const Tensor row = Tensor::from_vector<float>({1, 2, 3}, Shape{3});
  CHECK(add(a, col).to_vector<float>() == std::vector<float>{10, 11, 12, 23, 24, 25});
  CHECK(mul(a, row).to_vector<float>() == std::vector<float>{0, 2, 6, 3, 8, 15});
  CHECK(sub(col, row).shape() == Shape{2, 3});
  CHECK(sub(col, row).to_vector<float>() == std::vector<float>{9, 8, 7, 19, 18, 17});
  CHECK(div(a, Tensor::scalar(2)).to_vector<float>() == std::vector<float>{0, 0.5f, 1, 1.5f, 2, 2.5f});
  // Large enough to take the multi-threaded path with partial rows per thread.
  Generator gen(3);
  const Tensor big = Tensor::normal(Shape{3, 257, 129}, 0, 1, gen);
  const Tensor ch = Tensor::normal(Shape{257, 1}, 0, 1, gen);
  const Tensor out = add(big, ch);
  bool ok = true;
  for (int i = 0; i < 3 && ok; ++i)
    for (int j = 0; j < 257 && ok; ++j)
      for (int k = 0; k < 129 && ok; ++k) {
        const std::int64_t o = (i * 257 + j) * 129 + k;
        ok = out.data<float>()[o] == big.data<float>()[o] + ch.data<float>()[j];
      }
  CHECK(ok);
  CHECK(sigmoid(Tensor::from_vector<float>({-200, 0, 200}, Shape{3})).to_vector<float>() ==
        std::vector<float>{0, 0.5f, 1});
}

namespace {

// out[i_0..i_{n-1}] = x[j] with j's coordinates given by the inverse permutation: the definition.
template <class T>
std::vector<T> naive_permute(const std::vector<T>& x, const Shape& shape, const std::vector<int>& order) {
  const int n = shape.ndim();
  std::vector<std::int64_t> out_size(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out_size[static_cast<std::size_t>(i)] = shape[order[static_cast<std::size_t>(i)]];
  std::vector<T> out(x.size());
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n), 0);
  for (std::size_t o = 0; o < out.size(); ++o) {
    std::int64_t src = 0;
    for (int i = 0; i < n; ++i) src += idx[static_cast<std::size_t>(i)] * shape.stride(order[static_cast<std::size_t>(i)]);
    out[o] = x[static_cast<std::size_t>(src)];
    for (int d = n - 1; d >= 0; --d) {
      if (++idx[static_cast<std::size_t>(d)] < out_size[static_cast<std::size_t>(d)]) break;
      idx[static_cast<std::size_t>(d)] = 0;
    }
  }
  return out;
}

template <class T>
void check_all_orders(const Shape& shape) {
  std::vector<T> values(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<T>(i * 7 + 3);
  const Tensor x = Tensor::from_vector<T>(values, shape);
  std::vector<int> order(static_cast<std::size_t>(shape.ndim()));
  std::iota(order.begin(), order.end(), 0);
  do {
    INFO("shape " << shape << ", order " << doctest::toString(order));
    CHECK(permute(x, order).template to_vector<T>() == naive_permute(values, shape, order));
  } while (std::next_permutation(order.begin(), order.end()));
}

}  // namespace

TEST_CASE("permute: every order of shapes with unit, odd, tile-sized and larger extents equals the definition") {
  for (const Shape& s : {Shape{5}, Shape{1, 7}, Shape{3, 33}, Shape{33, 65}, Shape{2, 1, 40, 3}, Shape{2, 9, 33, 35},
                         Shape{1, 819, 5, 7}, Shape{3, 2, 1, 4, 5}, Shape{2, 3, 4, 5, 6}}) {
    check_all_orders<float>(s);
    check_all_orders<std::int64_t>(s);
  }
  check_all_orders<std::uint8_t>(Shape{2, 9, 33, 35});
  check_all_orders<float>(Shape{1, 1, 1});  // everything coalesces away: one element
  check_all_orders<float>(Shape{70000});    // a plain copy longer than one tile
  CHECK(permute(Tensor::scalar(2.5f), {}).item() == 2.5f);
  // Bytes (images) and a large transpose (the RetinaNet head's [N, A*K, H, W] -> [N, H, W, A*K]).
  std::vector<float> big(2 * 720 * 20 * 24);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  const Shape bs{2, 720, 20, 24};
  CHECK(permute(Tensor::from_vector<float>(big, bs), {0, 2, 3, 1}).to_vector<float>() ==
        naive_permute(big, bs, {0, 2, 3, 1}));
  const Tensor empty = Tensor::zeros(Shape{2, 0, 3});
  CHECK(permute(empty, {2, 0, 1}).shape() == Shape({3, 2, 0}));
}

TEST_CASE("tensor: without a usable GPU, a CUDA tensor is a clear error, not a crash") {
  if (cuda_gpu_available()) return;  // tests/cuda covers CUDA tensors where a GPU exists
  CHECK_THROWS_AS((void)Tensor::zeros(Shape{3}, DType::F32, Device::cuda(0)), Error);
  CHECK_THROWS_AS((void)Tensor::ones(Shape{3}).to(Device::cuda(0)), Error);
  const Tensor x = Tensor::ones(Shape{3});
  CHECK(x.to(Device::cpu()).shares_storage_with(x));
}
