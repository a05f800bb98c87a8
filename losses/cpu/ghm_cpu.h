// The CPU GHM driver shared by GHM-C and GHM-R: three passes per call, the structure of the CUDA
// kernels. One call = one density (one FPN level, or the whole batch); E = elements of the call.
//
//   pass 1  per element: l, d = dl/dx and g; bin(g) stored as one byte; integer histogram per
//           fixed chunk of kGhmChunk elements (exact, and independent of the thread count)
//   pass 2  R_i = summed histogram; EMA over the non-empty bins; w_i = tot / (S_i * n)
//   pass 3  grad = loss_weight * w_bin * d / tot; loss partials per chunk, summed in chunk order
//
// The per-element loss is kept from pass 1 to pass 3 in a reused buffer: 8 bytes of memory
// traffic per element cost less than evaluating exp and log1p a second time. The element
// evaluator is a template argument so that it inlines into the passes.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "core/cpu/parallel.h"
#include "core/tensor.h"
#include "losses/fused_loss.h"
#include "losses/ghm_math.h"
#include "losses/ghm_settings.h"
#include "losses/ghm_state.h"

namespace ghm::losses::cpu {

// A block evaluator fills, for rows [r0, r1) of the call (E = (r1 - r0) * C elements, row-major):
//   g[E]     the gradient norm that picks the bin        lw[E]  the label weight (> 0: valid)
//   loss[E]  the unweighted element loss l               d[E]   the unweighted gradient dl/dx
// for every element, valid or not (values of invalid elements are ignored). It is written as flat
// loops so that the compiler vectorises the element math.

constexpr std::int64_t kGhmChunk = 1 << 14;

// Per-bin weights from counts (the EMA update happens here): losses::ghm_bin_weights of
// losses/ghm_math.h, the formula the CUDA kernel runs too.
// num_in_bin: [bins], acc_sum: [bins] (updated when momentum > 0), bin_weight: [bins] (written).
// Returns n, the number of non-empty bins.
int ghm_bin_weights(const std::int64_t* num_in_bin, int bins, double tot, double momentum, float* acc_sum,
                    float* bin_weight);

// The reused per-thread buffers of one call (bins as bytes, per-element loss), grown to `elements`.
struct GhmWorkspace {
  std::unique_ptr<std::uint8_t[]> bins;
  std::unique_ptr<float[]> loss;
  std::int64_t capacity = 0;
};
GhmWorkspace& ghm_workspace(std::int64_t elements);

// A g within kNearUlps of an edge e of its bin, relative to max(e, 1 - e), is binned again from a
// double-precision g: one ulp of rounding in the element math can decide its bin. (Relative to
// max(e, 1 - e), not e: for y = 1, g = 1 - p carries the error of p, an ulp of a value near 1 - e.)
// The flag rides in the bin byte. The values live in losses/ghm_math.h, shared with the CUDA
// kernels, whose ghm_flagged_bin is this loop's body.
constexpr float kNearUlps = kGhmNearUlps;  // 8 x FLT_EPSILON
constexpr std::uint8_t kNearEdge = kGhmNearEdge;

// Pass 1's binning of one block: bin[i] from g[i] and lw[i] (see ghm_call), plus the number of
// valid elements and the sum of their label weights. A plain function with restrict pointers:
// the byte stores to bin[] could otherwise alias every captured value, which the compiler would
// then reload for each element.
inline void bin_block(const float* __restrict g, const float* __restrict lw, std::int64_t n, const float* __restrict e,
                      int m, std::uint8_t* __restrict bin, std::int64_t& count_out, double& wsum_out) {
  const float scale = static_cast<float>(m);
  const float last_edge = e[m];
  std::int64_t count = 0;
  double wsum = 0;
#pragma omp simd reduction(+ : count, wsum)
  for (std::int64_t i = 0; i < n; ++i) {
    // First guess from g * M, then one step against the float32 edges (the guess is off by at
    // most one bin). NaN, g outside [0, last edge) and invalid elements get kNoBin; a g within
    // a few ulps of an edge of its bin gets the kNearEdge flag.
    // Written without && and || (no control flow), so that the loop vectorises.
    const float gi = g[i];
    const bool valid = lw[i] > 0.0f;
    const bool inside = (gi >= 0.0f) & (gi < last_edge);
    int b = static_cast<int>(inside ? gi * scale : 0.0f);
    b = b > m - 1 ? m - 1 : b;
    b = b - static_cast<int>(gi < e[b]) + static_cast<int>(gi >= e[b + 1]);
    const float lo = e[b], hi = e[b + 1];
    const float lo_scale = lo > 1.0f - lo ? lo : 1.0f - lo, hi_scale = hi > 1.0f - hi ? hi : 1.0f - hi;
    const bool near = ((b > 0) & (gi - lo <= kNearUlps * lo_scale)) | (hi - gi <= kNearUlps * hi_scale);
    const int flagged = b | (near ? kNearEdge : 0);
    bin[i] = static_cast<std::uint8_t>((inside & valid) ? flagged : kNoBin);
    count += valid ? 1 : 0;
    wsum += valid ? static_cast<double>(lw[i]) : 0.0;
  }
  count_out = count;
  wsum_out = wsum;
}

// R_i and tot replaced by their sums over the processes (GhmCountSum).
void sum_across(const GhmCountSum& across, std::vector<std::int64_t>& num_in_bin, double& tot);

// Runs one call over a [R, C] block of elements (chunks are whole rows, about kGhmChunk elements
// each). eval(r0, r1, g, lw, loss, d) is the block evaluator above. precise_g(r, c) recomputes
// one element's g in double precision, rounded once to float32: it is called only for the rare
// elements whose g lies within a few ulps of a bin edge, so that their bin is the correctly
// rounded one (and so, almost always, the reference's). grad: [R, C] written with dL/dx;
// element_weight: [R, C] or null, written with each element's w (0 when invalid).
// acc_sum: [bins], the EMA state (used with momentum; check_ghm_call has sized it); across: the
// counts' sum over the processes of a job, when set (GhmCountSum).
template <class Eval, class PreciseG>
GhmCallStats ghm_call(const GhmSettings& settings, std::int64_t rows, std::int64_t cols, Eval&& eval,
                      PreciseG&& precise_g, std::vector<float>& acc_sum, const GhmCountSum& across, float* grad,
                      float* element_weight) {
  const std::int64_t elements = rows * cols;
  GhmWorkspace& ws = ghm_workspace(elements);
  const int M = settings.bins();
  std::vector<float> edges(static_cast<std::size_t>(M + 1));
  for (int i = 0; i < M; ++i) edges[static_cast<std::size_t>(i)] = static_cast<float>(i) / static_cast<float>(M);
  edges[static_cast<std::size_t>(M)] = settings.last_edge();

  // Pass 1: evaluate, bin, count.
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, kGhmChunk / std::max<std::int64_t>(cols, 1));
  const std::int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  std::vector<std::int64_t> hist(static_cast<std::size_t>(chunks * M), 0), valid(static_cast<std::size_t>(chunks), 0);
  std::vector<double> weight_sum(static_cast<std::size_t>(chunks), 0.0);
  std::uint8_t* bins = ws.bins.get();
  float* loss = ws.loss.get();
  ghm::cpu::parallel_for(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
    std::vector<float> scratch_g(static_cast<std::size_t>(rows_per_chunk * cols));
    std::vector<float> scratch_lw(static_cast<std::size_t>(rows_per_chunk * cols));
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t r0 = c * rows_per_chunk, r1 = std::min(rows, (c + 1) * rows_per_chunk);
      const std::int64_t base = r0 * cols, n = (r1 - r0) * cols;
      float* g = scratch_g.data();
      float* lw = scratch_lw.data();
      eval(r0, r1, g, lw, loss + base, grad + base);
      std::uint8_t* bin = bins + base;
      const float* e = edges.data();
      std::int64_t count = 0;
      double wsum = 0;
      bin_block(g, lw, n, e, M, bin, count, wsum);
      // Four interleaved sub-histograms: consecutive elements usually share a bin (easy
      // negatives), and one counter would serialise them through memory. Slot kNoBin collects
      // the invalid elements and is dropped.
      std::int64_t sub[4][128] = {};
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint8_t b = bin[i];
        if (b & kNearEdge) [[unlikely]] {
          b = ghm_bin(precise_g(r0 + i / cols, i % cols), e, M);
          bin[i] = b;
        }
        ++sub[i & 3][b];
      }
      for (int b = 0; b < M; ++b) hist[static_cast<std::size_t>(c * M + b)] = sub[0][b] + sub[1][b] + sub[2][b] + sub[3][b];
      valid[static_cast<std::size_t>(c)] = count;
      weight_sum[static_cast<std::size_t>(c)] = wsum;
    }
  });

  // Pass 2: totals, EMA, per-bin weights.
  GhmCallStats stats;
  stats.num_in_bin.assign(static_cast<std::size_t>(M), 0);
  std::int64_t valid_count = 0;
  double weight_total = 0;
  for (std::int64_t c = 0; c < chunks; ++c) {
    for (int b = 0; b < M; ++b) stats.num_in_bin[static_cast<std::size_t>(b)] += hist[static_cast<std::size_t>(c * M + b)];
    valid_count += valid[static_cast<std::size_t>(c)];
    weight_total += weight_sum[static_cast<std::size_t>(c)];
  }
  const bool count_valid = settings.tot_rule() == GhmTot::CountValid;
  double tot_sum = count_valid ? static_cast<double>(valid_count) : weight_total;
  if (across) sum_across(across, stats.num_in_bin, tot_sum);
  const double tot = std::max(tot_sum, 1.0);
  stats.tot = across ? tot / across.processes : tot;  // the normaliser
  stats.bin_weight.assign(static_cast<std::size_t>(M), 0.0f);
  stats.nonempty_bins = ghm_bin_weights(stats.num_in_bin.data(), M, tot, settings.momentum(), acc_sum.data(),
                                        stats.bin_weight.data());
  if (settings.has_momentum()) stats.acc_sum = acc_sum;

  // Pass 3: weighted gradient and loss.
  const float scale = static_cast<float>(static_cast<double>(settings.loss_weight()) / stats.tot);
  // Weight tables indexed by the stored byte: entry kNoBin (invalid elements) is 0, so the loop
  // has no branch and vectorises (a gather per element).
  std::array<float, 128> w_table{}, g_table{};
  for (int b = 0; b < M; ++b) {
    w_table[static_cast<std::size_t>(b)] = stats.bin_weight[static_cast<std::size_t>(b)];
    g_table[static_cast<std::size_t>(b)] = stats.bin_weight[static_cast<std::size_t>(b)] * scale;
  }
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
  ghm::cpu::parallel_for(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      double acc = 0;
      const std::int64_t begin = c * rows_per_chunk * cols, end = std::min(rows, (c + 1) * rows_per_chunk) * cols;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t i = begin; i < end; ++i) {
        const std::uint8_t b = bins[i];
        acc += static_cast<double>(w_table[b] * loss[i]);
        grad[i] *= g_table[b];
      }
      if (element_weight)
        for (std::int64_t i = begin; i < end; ++i) element_weight[i] = w_table[bins[i]];
      partial[static_cast<std::size_t>(c)] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  stats.loss = total / stats.tot * settings.loss_weight();
  return stats;
}

// Runs the calls of a forward over pred [N, C] in order: call c owns rows [rows[c], rows[c + 1]).
// call(r0, r1, grad, element_weight) runs one (ghm_call with the loss's evaluator) and returns its
// statistics; grad and element_weight (null unless kept) point at the call's first element.
template <class Call>
GhmResult ghm_calls(const Tensor& pred, std::span<const std::int64_t> rows, ElementWeights keep, Call&& call) {
  GhmResult r;
  r.grad = Tensor::empty(pred.shape());
  if (keep == ElementWeights::Keep) r.element_weight = Tensor::empty(pred.shape());
  for (std::size_t c = 0; c + 1 < rows.size(); ++c) {
    const std::int64_t base = rows[c] * pred.size(1);
    r.calls.push_back(call(rows[c], rows[c + 1], r.grad.data<float>() + base,
                           r.element_weight.defined() ? r.element_weight.data<float>() + base : nullptr));
    r.total += r.calls.back().loss;
  }
  r.loss = Tensor::scalar(static_cast<float>(r.total));
  return r;
}

// The loss op of a CPU forward: its value and stored gradient, the statistics moved to `stats`
// when asked for.
inline Tensor ghm_loss_output(GhmResult&& r, const Tensor& pred, std::vector<GhmCallStats>* stats, const char* op) {
  if (stats) *stats = std::move(r.calls);
  return fused_loss_output(r.total, pred, r.grad, op);
}

}  // namespace ghm::losses::cpu
