#include "core/ops/broadcast.h"

#include <algorithm>

#include "core/check.h"

namespace ghm {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int n = std::max(a.ndim(), b.ndim());
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int da = a.ndim() - n + i, db = b.ndim() - n + i;
    const std::int64_t sa = da >= 0 ? a[da] : 1, sb = db >= 0 ? b[db] : 1;
    GHM_CHECK(sa == sb || sa == 1 || sb == 1, op, ": shapes ", a, " and ", b, " do not broadcast (dimension ", i,
              ": ", sa, " vs ", sb, ")");
    out[static_cast<std::size_t>(i)] = sa == 1 ? sb : sa;
  }
  return Shape(out);
}

BroadcastPlan make_broadcast_plan(const Shape& a, const Shape& b, const char* op) {
  BroadcastPlan plan;
  plan.out_shape = broadcast_shapes(a, b, op);
  const Shape& out = plan.out_shape;
  const int n = out.ndim();
  // Per output dimension: extent and each operand's stride (0 when broadcast), skipping extent-1 dims.
  std::array<std::int64_t, kMaxDims> size{}, sa{}, sb{};
  int m = 0;
  std::int64_t stride_a = 1, stride_b = 1;
  std::array<std::int64_t, kMaxDims> rs{}, ra{}, rb{};
  int k = 0;
  for (int i = n - 1; i >= 0; --i) {  // innermost first
    const int da = a.ndim() - n + i, db = b.ndim() - n + i;
    const std::int64_t ea = da >= 0 ? a[da] : 1, eb = db >= 0 ? b[db] : 1;
    if (out[i] != 1) {
      rs[static_cast<std::size_t>(k)] = out[i];
      ra[static_cast<std::size_t>(k)] = ea == 1 ? 0 : stride_a;
      rb[static_cast<std::size_t>(k)] = eb == 1 ? 0 : stride_b;
      ++k;
    }
    stride_a *= ea;
    stride_b *= eb;
  }
  // Merge neighbours (innermost first): dim j+1 (outer) folds into dim j when strides chain.
  for (int j = 0; j < k; ++j) {
    const auto J = static_cast<std::size_t>(j);
    if (m > 0) {
      const auto P = static_cast<std::size_t>(m - 1);
      if (ra[J] == sa[P] * size[P] && rb[J] == sb[P] * size[P]) {
        size[P] *= rs[J];
        continue;
      }
    }
    const auto M = static_cast<std::size_t>(m);
    size[M] = rs[J];
    sa[M] = ra[J];
    sb[M] = rb[J];
    ++m;
  }
  // Store outermost first.
  plan.ndim = m;
  for (int j = 0; j < m; ++j) {
    const auto src = static_cast<std::size_t>(m - 1 - j), dst = static_cast<std::size_t>(j);
    plan.size[dst] = size[src];
    plan.stride_a[dst] = sa[src];
    plan.stride_b[dst] = sb[src];
  }
  return plan;
}

}  // namespace ghm
