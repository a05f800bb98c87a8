// Max pooling against its definition on random inputs with many ties, NaN and -inf, for kernels,
// strides and paddings where the vectorised interior and the edge windows both occur; the
// gradient goes to the chosen element (PyTorch's rule: the first maximum, or the first NaN).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/ops/pool.h"
#include "core/random.h"

using namespace ghm;

namespace {

struct Reference {
  std::vector<float> y;
  std::vector<std::int64_t> index;  // within the plane
};

Reference naive(const std::vector<float>& x, std::int64_t planes, std::int64_t h, std::int64_t w, const Pool2dParams& p) {
  const std::int64_t ho = (h + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1;
  const std::int64_t wo = (w + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1;
  Reference r;
  for (std::int64_t pl = 0; pl < planes; ++pl)
    for (std::int64_t oh = 0; oh < ho; ++oh)
      for (std::int64_t ow = 0; ow < wo; ++ow) {
        float best = 0;
        std::int64_t best_i = -1;
        for (std::int64_t kh = 0; kh < p.kernel_h; ++kh)
          for (std::int64_t kw = 0; kw < p.kernel_w; ++kw) {
            const std::int64_t ih = oh * p.stride_h - p.pad_h + kh, iw = ow * p.stride_w - p.pad_w + kw;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const float v = x[static_cast<std::size_t>((pl * h + ih) * w + iw)];
            const bool best_nan = best_i >= 0 && std::isnan(best);
            if (best_i < 0 || (!best_nan && (v > best || std::isnan(v)))) {
              best = v;
              best_i = ih * w + iw;
            }
          }
        r.y.push_back(best);
        r.index.push_back(best_i);
      }
  return r;
}

}  // namespace

TEST_CASE("max_pool2d: equals the definition, values and gradient, with ties, NaN and -inf") {
  Generator gen(5);
  const float inf = std::numeric_limits<float>::infinity();
  for (const Pool2dParams& p : {Pool2dParams::square(3, 2, 1), Pool2dParams::square(2, 2, 0), Pool2dParams::square(3, 1, 1),
                                Pool2dParams::square(3, 3, 0), Pool2dParams{3, 2, 2, 1, 1, 0}, Pool2dParams::square(1, 1, 0),
                                Pool2dParams::square(5, 1, 2), Pool2dParams::square(5, 3, 2)}) {
    for (const auto& [h, w] : {std::pair<std::int64_t, std::int64_t>{7, 9}, {16, 33}, {3, 3}, {5, 64}, {2, 4}, {1, 1},
                               {3, 2}}) {
      if (h + 2 * p.pad_h < p.kernel_h || w + 2 * p.pad_w < p.kernel_w) continue;
      const std::int64_t planes = h * w > 100 ? 40 : 3;  // 40 planes of 16x33: the parallel path
      std::vector<float> x(static_cast<std::size_t>(planes * h * w));
      for (float& v : x) {
        const float u = gen.uniform();
        v = u < 0.03f ? std::nanf("") : u < 0.08f ? -inf : static_cast<float>(static_cast<int>(gen.uniform() * 5));  // ties
      }
      INFO("kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << "x" << p.stride_w << " pad "
                     << p.pad_h << "x" << p.pad_w << " input " << h << "x" << w);
      Tensor t = Tensor::from_vector(x, Shape{1, planes, h, w});
      t.set_requires_grad(true);
      const Tensor y = max_pool2d(t, p);
      const Reference r = naive(x, planes, h, w, p);
      const std::vector<float> got = y.to_vector<float>();
      REQUIRE(got.size() == r.y.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(r.y[i])) CHECK(std::isnan(got[i]));
        else CHECK(got[i] == r.y[i]);
      }
      // The gradient of sum(y * k) puts each output's k on its chosen input.
      std::vector<float> k(got.size());
      for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<float>(i + 1);
      y.backward(Tensor::from_vector(k, y.shape()));
      std::vector<float> expected(x.size(), 0.0f);
      const std::size_t per_plane = got.size() / static_cast<std::size_t>(planes);
      for (std::size_t i = 0; i < k.size(); ++i)
        expected[(i / per_plane) * static_cast<std::size_t>(h * w) + static_cast<std::size_t>(r.index[i])] += k[i];
      CHECK(t.grad().to_vector<float>() == expected);
    }
  }
}
