// The GHM arithmetic the CPU and CUDA drivers share (losses/ghm_math.h), checked on the host:
// the per-element binning the CUDA pass 1 runs (ghm_flagged_bin) gives the same byte as the CPU's
// vectorised bin_block for every kind of g (random, on and around every edge, 0, 1, beyond the
// last edge, NaN, infinite); its near-edge window is wide enough that a g a few ulps off (another
// backend's sigmoid) never changes the final bin; the EMA step rounds its product and its sum separately, as the
// reference; and the state's device copy is not used without a GPU. All exact comparisons: these
// are the same operations on the same floats.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/random.h"
#include "losses/cpu/ghm_cpu.h"
#include "losses/ghm_math.h"
#include "losses/ghm_state.h"

using namespace ghm;
using namespace ghm::losses;

namespace {

std::vector<float> edges_of(int bins, float last_edge) {
  std::vector<float> e(static_cast<std::size_t>(bins) + 1);
  for (int i = 0; i <= bins; ++i) e[static_cast<std::size_t>(i)] = ghm_edge(i, bins, last_edge);
  return e;
}

// g values of every kind for `bins` bins: random in [0, 1], each edge and its float neighbours up
// to 12 ulps away, 0, 1, just under and over the last edge, beyond it, NaN and +infinity.
std::vector<float> probe_values(const std::vector<float>& edges, Generator& gen) {
  std::vector<float> g;
  for (int i = 0; i < 2000; ++i) g.push_back(gen.uniform(0.0f, 1.0f));
  for (float e : edges) {
    float lo = e, hi = e;
    for (int step = 0; step <= 12; ++step) {
      if (lo >= 0.0f) g.push_back(lo);
      g.push_back(hi);
      lo = std::nextafter(lo, -1.0f);
      hi = std::nextafter(hi, 2e3f);
    }
  }
  for (float v : {0.0f, 1.0f, 0.5f, 1.0f + 1e-6f, 2.0f, 999.0f, 1e3f, 5e3f, std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN()})
    g.push_back(v);
  return g;
}

}  // namespace

TEST_CASE("ghm math: edges are float32(i) / float32(M) and the loss's last edge") {
  const std::vector<float> e = edges_of(30, kGhmcLastEdge);
  CHECK(e[15] == 0.5f);
  CHECK(e[1] == 1.0f / 30.0f);
  CHECK(e[30] == 1.0f + 1e-6f);
  CHECK(edges_of(10, kGhmrLastEdge)[10] == 1e3f);
}

TEST_CASE("ghm math: the per-element binning of the CUDA pass 1 equals the CPU's bin_block byte for byte") {
  Generator gen(901);
  for (int bins : {1, 2, 7, 10, 30, 126}) {
    for (float last_edge : {kGhmcLastEdge, kGhmrLastEdge}) {
      CAPTURE(bins);
      CAPTURE(last_edge);
      const std::vector<float> e = edges_of(bins, last_edge);
      const std::vector<float> g = probe_values(e, gen);
      std::vector<float> lw(g.size());
      for (std::size_t i = 0; i < lw.size(); ++i) lw[i] = i % 7 == 3 ? 0.0f : (i % 5 == 1 ? 2.5f : 1.0f);
      // bin_block reads edges[b + 1] for the g it then discards; pad so that stays inside.
      std::vector<float> padded = e;
      padded.resize(e.size() + 2, 0.0f);
      std::vector<std::uint8_t> cpu(g.size());
      std::int64_t count = 0;
      double wsum = 0;
      losses::cpu::bin_block(g.data(), lw.data(), static_cast<std::int64_t>(g.size()), padded.data(), bins, cpu.data(),
                             count, wsum);
      std::int64_t flagged = 0, mismatches = 0;
      for (std::size_t i = 0; i < g.size(); ++i) {
        const std::uint8_t b = ghm_flagged_bin(g[i], lw[i] > 0.0f, e.data(), bins);
        mismatches += b != cpu[i] ? 1 : 0;
        flagged += (b != kNoBin && (b & kGhmNearEdge)) ? 1 : 0;
        // The flag aside, the byte is the half-open interval test.
        if (b != kNoBin) CHECK((b & ~kGhmNearEdge) == ghm_bin(g[i], e.data(), bins));
      }
      CHECK(mismatches == 0);
      CHECK(flagged > 0);  // the probes around the edges do reach the double-precision path
    }
  }
  // Outside [0, last edge), NaN and invalid elements: kNoBin, never a flag.
  const std::vector<float> e = edges_of(10, kGhmcLastEdge);
  for (float g : {-0.5f, 1.5f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()})
    CHECK(ghm_flagged_bin(g, true, e.data(), 10) == kNoBin);
  CHECK(ghm_flagged_bin(-0.0f, true, e.data(), 10) == 0);
  CHECK(ghm_flagged_bin(0.37f, false, e.data(), 10) == kNoBin);
}

TEST_CASE("ghm math: a p or g off by up to 8 ulps never changes the final bin (why CPU and CUDA bins agree)") {
  // Final bin = ghm_flagged_bin, and ghm_bin of the correctly rounded g where flagged. The CPU's
  // sigmoid is within 2.2 ulps of p; the device's, from expf (2 ulps) and two roundings, within 8
  // in the worst case. So if no p (or GHM-R g) within 8 ulps of the correct one changes the final
  // bin, both backends give the correct bin. Probes: logits (or deltas) around the pre-image of
  // every edge, y = 0 and 1.
  for (int bins : {10, 30}) {
    CAPTURE(bins);
    const std::vector<float> e = edges_of(bins, kGhmcLastEdge);
    std::int64_t probes = 0, changed = 0;
    for (int j = 1; j < bins; ++j) {
      for (float y : {0.0f, 1.0f}) {
        const double pe = y == 0.0f ? e[static_cast<std::size_t>(j)] : 1.0 - e[static_cast<std::size_t>(j)];
        float x = static_cast<float>(std::log(pe / (1.0 - pe)));
        for (int step = 0; step < 60; ++step) x = std::nextafter(x, -100.0f);
        for (int step = 0; step < 120; ++step, x = std::nextafter(x, 100.0f)) {
          const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
          const auto correct = static_cast<float>(std::abs(static_cast<double>(static_cast<float>(p)) - y));
          const std::uint8_t want = ghm_bin(correct, e.data(), bins);
          float q = static_cast<float>(p);
          for (int k = 0; k < 8; ++k) q = std::nextafter(q, -1.0f);
          for (int k = 0; k <= 16; ++k, q = std::nextafter(q, 2.0f)) {
            std::uint8_t b = ghm_flagged_bin(std::abs(q - y), true, e.data(), bins);
            if (b & kGhmNearEdge) b = want;
            ++probes;
            changed += b != want ? 1 : 0;
          }
        }
      }
    }
    CHECK(probes > 0);
    CHECK(changed == 0);
  }
  // GHM-R: g = |d| / sqrt(d^2 + mu^2), off by up to 8 ulps of g.
  const std::vector<float> e = edges_of(10, kGhmrLastEdge);
  std::int64_t changed = 0;
  for (int j = 1; j < 10; ++j) {
    const double ej = e[static_cast<std::size_t>(j)];
    float d = static_cast<float>(0.02 * ej / std::sqrt(1.0 - ej * ej));
    for (int step = 0; step < 60; ++step) d = std::nextafter(d, -1.0f);
    for (int step = 0; step < 120; ++step, d = std::nextafter(d, 1.0f)) {
      const double dd = d;
      const auto correct = static_cast<float>(std::abs(dd / std::sqrt(dd * dd + 0.02 * 0.02)));
      const std::uint8_t want = ghm_bin(correct, e.data(), 10);
      float g = correct;
      for (int k = 0; k < 8; ++k) g = std::nextafter(g, -1.0f);
      for (int k = 0; k <= 16; ++k, g = std::nextafter(g, 2.0f)) {
        std::uint8_t b = ghm_flagged_bin(g, true, e.data(), 10);
        if (b & kGhmNearEdge) b = want;
        changed += b != want ? 1 : 0;
      }
    }
  }
  CHECK(changed == 0);
}

TEST_CASE("ghm math: the EMA step rounds the product and the sum separately (the reference's float32)") {
  Generator gen(902);
  for (int i = 0; i < 20000; ++i) {
    const double momentum = i % 3 == 0 ? 0.75 : (i % 3 == 1 ? 0.7 : gen.uniform(0.01f, 0.99f));
    const float acc = gen.uniform(0.0f, 1e6f);
    const double r = std::floor(gen.uniform(1.0f, 1e6f));
    // float * float is exact in double, and so is the sum of two floats to within one rounding:
    // rounding each once to float32 gives the two-rounding result.
    const float m = static_cast<float>(momentum);
    const auto product = static_cast<float>(static_cast<double>(m) * static_cast<double>(acc));
    const auto fresh = static_cast<float>((1.0 - momentum) * r);
    const auto want = static_cast<float>(static_cast<double>(product) + static_cast<double>(fresh));
    REQUIRE(ghm_ema_update(acc, momentum, r) == want);
  }
}

TEST_CASE("ghm math: bin weights without momentum give every valid element tot / (R_i n), with it 1 / S_i") {
  const std::vector<std::int64_t> counts{5, 0, 3, 0, 2};
  std::vector<float> w(5), acc(5, 0.0f);
  CHECK(ghm_bin_weights(counts.data(), 5, 10.0, 0.0, nullptr, w.data()) == 3);
  CHECK(w[0] == static_cast<float>(10.0 / 5.0) / 3.0f);
  CHECK(w[1] == 0.0f);
  CHECK(w[4] == static_cast<float>(10.0 / 2.0) / 3.0f);
  acc[1] = 7.0f;
  CHECK(ghm_bin_weights(counts.data(), 5, 10.0, 0.75, acc.data(), w.data()) == 3);
  CHECK(acc[0] == 1.25f);  // 0.75 * 0 + 0.25 * 5
  CHECK(acc[1] == 7.0f);   // empty bins keep their value
  CHECK(w[0] == (1.0f / 1.25f) * 10.0f / 3.0f);
}

TEST_CASE("ghm state: the host copy is the state until a CUDA loss moves it") {
  GhmEmaState s(4);
  s.acc_sum[2] = 3.5f;
  CHECK_FALSE(s.on_device);
  CHECK(s.values() == s.acc_sum);
  s.sync_to_host();  // nothing to do
  CHECK(s.acc_sum[2] == 3.5f);
}
