// GHM-C and GHM-R on CUDA, the twin of the CPU driver (losses/cpu/ghm_cpu.h): the same three
// passes, the same bins, the same weight formula, for L calls (FPN levels) at once.
//
// Per element (E = all elements of all calls; letters: N rows, K columns, M bins, L calls):
//   GHM-C  x logit, y target:  t = e^-|x|,  p = (x >= 0 ? 1 : t) / (1 + t),  g = |p - y|,
//                              l = max(x, 0) - x*y + log1p(t),  d = p - y
//   GHM-R  x pred, y target:   d0 = x - y,  s = sqrt(d0^2 + mu^2),  g = |d0 / s|,  l = s - mu,  d = d0 / s
// valid = label_weight > 0; bin(g) over the float32 edges e_i = i/M (last edge per loss), with a
// g within 8 float32 epsilons of an edge e of its bin (relative to max(e, 1 - e)) binned again
// from a double-precision g, exactly as the CPU does (losses/ghm_math.h: ghm_flagged_bin, ghm_bin).
// The window is wider than the error of either backend's g, so the bins equal the CPU's although
// the device's expf and the CPU's vectorised exp differ by an ulp or two.
//
// Launches (legacy default stream, no host synchronisation unless the counts are summed over processes):
//   memset   R[L, M] = 0 (u64)
//   pass 1   ghm_bin_kernel, one block per tile of kTile = 4096 elements of one call (a call's
//            tiles are consecutive; block -> call by the tile offsets passed as kernel arguments):
//            g, bin byte -> bins[E]; per-thread byte counters in shared memory (no atomics), summed
//            per bin by one warp and added to R[call, bin] with one integer atomicAdd (u64:
//            deterministic); the tile's tot contribution (valid count for GHM-C, label weight sum
//            for GHM-R, in double) -> tot_partial[tile]
//   pass 2   ghm_weights_kernel, one block: for each call in order, tot = max(sum of its
//            tot_partial (fixed tree), 1), then the EMA over the non-empty bins and
//            w_i = tot / (S_i * n) (ghm_bin_weights, the CPU's function) with S on the device,
//            and the gradient factors w_i * f32(loss_weight / tot)
//   (a data-parallel job's summed density, GhmCountSum: between passes 1 and 2 each call's tot
//   and R go to the host, are summed over the processes and come back; pass 2 then takes them,
//   and divides by tot / processes instead of tot: the run's one host synchronisation)
//   pass 3   ghm_grad_kernel, the tiles of pass 1 again: l and d recomputed (cheaper than storing
//            8 bytes per element), grad = d * factor[bin], element weight w[bin] when asked,
//            sum of w[bin] * l over the tile in double -> loss_partial[tile] (fixed tree)
//   pass 4   ghm_loss_kernel, one block: per call loss = (sum of its partials) / tot * loss_weight,
//            total = sum of the call losses in call order -> the [] loss tensor
// Every kernel takes the loss's GhmSettings by value (bins M, momentum, loss_weight, mu, the last
// edge, the tot rule), checked once where they were made (losses/ghm_settings.h).
// Block sums (tot, loss partials) are block_sum's fixed tree and the per-bin counts warp_sum's
// (core/cuda/block_reduce.cuh).
// Memory moved: pass 1 reads the inputs and writes 1 byte per element; pass 3 reads the inputs and
// the byte and writes the gradient (and the weight when asked).
#include "losses/cuda/ghm_cuda.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cuda/cuda_check.h"
#include "losses/cuda/loss_common_cuda.h"
#include "losses/fused_loss.h"
#include "losses/ghm_math.h"

namespace ghm::losses::cuda {
namespace {

constexpr int kWarps = kThreads / ghm::cuda::kWarpSize;
constexpr int kBinSlots = 128;  // a bin byte indexes a table of this size: bins 0..125, kNoBin 127

// The calls of one run, as a kernel argument: call c owns elements [elem_begin[c],
// elem_begin[c + 1]) of the [N, K] block (row-major, so rows[c] * K ...) and tiles
// [tile_begin[c], tile_begin[c + 1]).
struct CallTable {
  int calls = 0;
  std::int64_t elem_begin[kMaxGhmCalls + 1] = {};
  std::int64_t tile_begin[kMaxGhmCalls + 1] = {};
};

// The call that owns a tile: the last c with tile_begin[c] <= tile (empty calls own no tile).
__device__ int call_of_tile(const CallTable& table, std::int64_t tile) {
  int c = 0;
  while (c + 1 < table.calls && table.tile_begin[c + 1] <= tile) ++c;
  return c;
}

// A tile's elements [begin, end) and its call.
struct TileRange {
  int call;
  std::int64_t begin, end;
};

__device__ TileRange tile_range(const CallTable& table, std::int64_t tile) {
  const int c = call_of_tile(table, tile);
  const std::int64_t begin = table.elem_begin[c] + (tile - table.tile_begin[c]) * kTile;
  return {c, begin, min(begin + kTile, table.elem_begin[c + 1])};
}

// An element's inputs: x (logit or prediction), y (target), w (label weight).
using Item = ClassItem;

// The unweighted element loss l and its derivative d = dl/dx.
struct Terms {
  float loss, d;
};

// GHM-C elements: logits x [N, K], targets and label weights as DeviceClassTargets.
struct ClassElements : ClassInputs {
  __device__ float g(const Item& it) const { return fabsf(logistic_p(it.x) - it.y); }
  // The CPU's precise_g: p in double, rounded once to float32, then |p - y| rounded once. Rare,
  // so not inlined (and by value, so that the items stay in registers).
  __device__ __noinline__ float precise_g(float x, float y) const {
    const double p = 1.0 / (1.0 + exp(-static_cast<double>(x)));
    return static_cast<float>(fabs(static_cast<double>(static_cast<float>(p)) - static_cast<double>(y)));
  }
  __device__ Terms terms(const Item& it) const {
    const LogisticTerms l = logistic_terms(it.x, it.y);
    return {l.bce, l.p - it.y};
  }
};

// GHM-R elements: pred, target, label_weight [N, D]; mu2 = f32(mu * mu) as the CPU rounds it.
struct RegressionElements : RegressionInputs {
  float mu, mu2;

  __device__ float g(const Item& it) const {
    const float d = it.x - it.y;
    return fabsf(d / sqrtf(d * d + mu2));
  }
  __device__ __noinline__ float precise_g(float x, float y) const {
    const double d = static_cast<double>(x - y);
    return static_cast<float>(fabs(d / sqrt(d * d + static_cast<double>(mu2))));
  }
  __device__ Terms terms(const Item& it) const {
    const float d = it.x - it.y;
    const float s = sqrtf(d * d + mu2);
    return {s - mu, d / s};
  }
};

// Sum of the four bytes of a word.
__device__ __forceinline__ std::uint32_t byte_sum(std::uint32_t v) {
  v = (v & 0x00ff00ffu) + ((v >> 8) & 0x00ff00ffu);
  return (v & 0xffffu) + (v >> 16);
}

// Pass 1. Dynamic shared memory: bins * kThreads bytes of counters, [bin][thread]; a thread adds
// at most kItems (< 256) to each of its own, so a byte holds it and no atomics are needed.
// bin_of: [E] written; hist: [L, M] (zeroed before) += counts; tot_partial: [tiles] written.
template <class Elements>
__global__ void __launch_bounds__(kThreads)
    ghm_bin_kernel(Elements el, CallTable table, std::int64_t cols, GhmSettings settings,
                   std::uint8_t* __restrict__ bin_of, unsigned long long* __restrict__ hist,
                   double* __restrict__ tot_partial) {
  extern __shared__ std::uint32_t count_words[];  // [bins][kThreads / 4]
  __shared__ float edges[kMaxGhmBins + 1];
  std::uint8_t* counts = reinterpret_cast<std::uint8_t*>(count_words);
  const int bins = settings.bins();
  const bool count_valid = settings.tot_rule() == GhmTot::CountValid;
  for (int i = static_cast<int>(threadIdx.x); i <= bins; i += kThreads)
    edges[i] = ghm_edge(i, bins, settings.last_edge());
  for (int i = static_cast<int>(threadIdx.x); i < bins * (kThreads / 4); i += kThreads) count_words[i] = 0;
  __syncthreads();

  const std::int64_t tile = blockIdx.x;
  const TileRange r = tile_range(table, tile);
  const std::int64_t first = r.begin + threadIdx.x;

  // Loads first (kItems independent ones in flight), then the math.
  Item items[kItems];
  load_items(el, first, r.end, cols, items);
  double tot = 0;
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const std::int64_t e = first + std::int64_t{j} * kThreads;
    if (e < r.end) {
      const Item& it = items[j];
      const bool valid = it.w > 0.0f;
      std::uint8_t b = ghm_flagged_bin(el.g(it), valid, edges, bins);
      if (b & kGhmNearEdge) b = ghm_bin(el.precise_g(it.x, it.y), edges, bins);
      bin_of[e] = b;
      if (b < bins) ++counts[b * kThreads + threadIdx.x];
      if (valid) tot += count_valid ? 1.0 : static_cast<double>(it.w);
    }
  }
  const double tile_tot = block_sum(tot);  // its barriers also publish the counters
  if (threadIdx.x == 0) tot_partial[tile] = tile_tot;

  const int lane = static_cast<int>(threadIdx.x) % ghm::cuda::kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / ghm::cuda::kWarpSize;
  for (int b = warp; b < bins; b += kWarps) {  // a bin's kThreads / 4 counter words: two per lane
    const std::uint32_t* row = count_words + b * (kThreads / 4);
    std::uint32_t s = byte_sum(row[lane]) + byte_sum(row[lane + ghm::cuda::kWarpSize]);
    s = warp_sum(s);
    if (lane == 0 && s != 0) atomicAdd(hist + r.call * bins + b, static_cast<unsigned long long>(s));
  }
}

// The per-call results on the device (addresses into the stats buffer).
struct CallStatsView {
  unsigned long long* hist;  // [L, M] R_i
  double* tot;               // [L]
  double* call_loss;         // [L]
  double* total;             // [1]
  float* bin_weight;         // [L, M] w_i
  float* grad_scale;         // [L, M] w_i * f32(loss_weight / tot)
  float* acc_after;          // [L, M] S after each call, or null without momentum
  int* nonempty;             // [L] n
};

// The sum of call c's per-tile values partial[tile_begin[c] .. tile_begin[c + 1]) over one block
// (block_sum's fixed tree; every thread gets it).
__device__ double call_sum(const CallTable& table, int c, const double* __restrict__ partial) {
  double part = 0;
  for (std::int64_t t = table.tile_begin[c] + threadIdx.x; t < table.tile_begin[c + 1]; t += kThreads)
    part += partial[t];
  return block_sum(part);
}

// Between passes 1 and 2 of a job's summed density (GhmCountSum): each call's tot before the
// clamp -> out.tot[c], for the host to sum over the processes with R.
__global__ void __launch_bounds__(kThreads)
    ghm_call_tots_kernel(CallTable table, const double* __restrict__ tot_partial, CallStatsView out) {
  for (int c = 0; c < table.calls; ++c) {
    const double sum = call_sum(table, c, tot_partial);
    if (threadIdx.x == 0) out.tot[c] = sum;
  }
}

// Pass 2 (one block): calls in order, since each call's EMA starts from the previous one's.
// tot_partial: [tiles]; acc_sum: [M] S, updated (null without momentum). processes > 0: R and
// out.tot hold the sums over a job's processes already (GhmCountSum), and the normaliser is
// tot / processes.
__global__ void __launch_bounds__(kThreads)
    ghm_weights_kernel(CallTable table, GhmSettings settings, const double* __restrict__ tot_partial,
                       float* __restrict__ acc_sum, CallStatsView out, int processes) {
  const int bins = settings.bins();
  for (int c = 0; c < table.calls; ++c) {
    const double sum = processes > 0 ? out.tot[c] : call_sum(table, c, tot_partial);
    if (threadIdx.x == 0) {
      const double tot = sum < 1.0 ? 1.0 : sum;  // std::max(sum, 1.0), as the CPU
      const double norm = processes > 0 ? tot / processes : tot;
      float* w = out.bin_weight + c * bins;
      const int n = ghm_bin_weights(reinterpret_cast<const std::int64_t*>(out.hist + c * bins), bins, tot,
                                    settings.momentum(), acc_sum, w);
      const float scale = static_cast<float>(static_cast<double>(settings.loss_weight()) / norm);
      for (int i = 0; i < bins; ++i) out.grad_scale[c * bins + i] = w[i] * scale;
      if (out.acc_after != nullptr)
        for (int i = 0; i < bins; ++i) out.acc_after[c * bins + i] = acc_sum[i];
      out.tot[c] = norm;
      out.nonempty[c] = n;
    }
  }
}

// Pass 3. bin_of: [E]; bin_weight, grad_scale: [L, M]; grad: [E] written; element_weight: [E] or
// null; loss_partial: [tiles] written.
template <class Elements>
__global__ void __launch_bounds__(kThreads)
    ghm_grad_kernel(Elements el, CallTable table, std::int64_t cols, GhmSettings settings,
                    const std::uint8_t* __restrict__ bin_of, const float* __restrict__ bin_weight,
                    const float* __restrict__ grad_scale, float* __restrict__ grad, float* __restrict__ element_weight,
                    double* __restrict__ loss_partial) {
  __shared__ float w_table[kBinSlots], g_table[kBinSlots];  // by bin byte; 0 for kNoBin
  const int bins = settings.bins();
  const std::int64_t tile = blockIdx.x;
  const TileRange r = tile_range(table, tile);
  for (int i = static_cast<int>(threadIdx.x); i < kBinSlots; i += kThreads) {
    float w = 0.0f, s = 0.0f;
    if (i < bins) {
      w = bin_weight[r.call * bins + i];
      s = grad_scale[r.call * bins + i];
    }
    w_table[i] = w;
    g_table[i] = s;
  }
  __syncthreads();

  const std::int64_t first = r.begin + threadIdx.x;
  Item items[kItems];
  load_items(el, first, r.end, cols, items);
  std::uint8_t bin[kItems];
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const std::int64_t e = first + std::int64_t{j} * kThreads;
    bin[j] = e < r.end ? bin_of[e] : kNoBin;
  }
  double acc = 0;
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const std::int64_t e = first + std::int64_t{j} * kThreads;
    if (e < r.end) {
      const Terms t = el.terms(items[j]);
      const float w = w_table[bin[j]];
      acc += static_cast<double>(w * t.loss);
      grad[e] = t.d * g_table[bin[j]];
      if (element_weight != nullptr) element_weight[e] = w;
    }
  }
  const double tile_loss = block_sum(acc);
  if (threadIdx.x == 0) loss_partial[tile] = tile_loss;
}

// Pass 4 (one block). loss_partial: [tiles]; loss: [1] the [] tensor.
__global__ void __launch_bounds__(kThreads)
    ghm_loss_kernel(CallTable table, GhmSettings settings, const double* __restrict__ loss_partial, CallStatsView out,
                    float* __restrict__ loss) {
  double total = 0;
  for (int c = 0; c < table.calls; ++c) {
    const double sum = call_sum(table, c, loss_partial);
    if (threadIdx.x == 0) {
      const double call_loss = sum / out.tot[c] * static_cast<double>(settings.loss_weight());
      out.call_loss[c] = call_loss;
      total += call_loss;
    }
  }
  if (threadIdx.x == 0) {
    out.total[0] = total;
    loss[0] = static_cast<float>(total);
  }
}

// Byte offsets of the per-call results in the stats buffer (8-byte aligned; the buffer itself is
// aligned to the allocator's 512 bytes).
struct StatsLayout {
  std::size_t hist, tot, call_loss, total, bin_weight, grad_scale, acc_after, nonempty, bytes;

  StatsLayout(int calls, int bins) {
    const auto l = static_cast<std::size_t>(calls), lm = l * static_cast<std::size_t>(bins);
    auto round8 = [](std::size_t b) { return (b + 7) / 8 * 8; };
    hist = 0;
    tot = hist + lm * sizeof(unsigned long long);
    call_loss = tot + l * sizeof(double);
    total = call_loss + l * sizeof(double);
    bin_weight = total + sizeof(double);
    grad_scale = round8(bin_weight + lm * sizeof(float));
    acc_after = round8(grad_scale + lm * sizeof(float));
    nonempty = round8(acc_after + lm * sizeof(float));
    bytes = round8(nonempty + l * sizeof(int));
  }
};

CallStatsView stats_view(std::uint8_t* base, const StatsLayout& s, bool momentum) {
  return {reinterpret_cast<unsigned long long*>(base + s.hist),
          reinterpret_cast<double*>(base + s.tot),
          reinterpret_cast<double*>(base + s.call_loss),
          reinterpret_cast<double*>(base + s.total),
          reinterpret_cast<float*>(base + s.bin_weight),
          reinterpret_cast<float*>(base + s.grad_scale),
          momentum ? reinterpret_cast<float*>(base + s.acc_after) : nullptr,
          reinterpret_cast<int*>(base + s.nonempty)};
}

// The EMA state on pred's device: copied there on first use (one synchronising copy), then kept.
float* device_ema_state(GhmEmaState& state, int bins, Device device) {
  if (state.on_device && state.device_acc_sum.device() != device) state.sync_to_host();
  if (!state.on_device) {
    state.device_acc_sum = Tensor::from_vector(state.acc_sum, Shape{bins}).to(device);
    state.on_device = true;
  }
  return state.device_acc_sum.device_data<float>();
}

// A job's summed density: every call's R and tot to the host, summed over the processes by
// `across` (one all-reduce for all calls), and back (the only host synchronisation of a run then).
void sum_across(const GhmCountSum& across, const CallTable& table, const double* tot_partial,
                const CallStatsView& out, int bins) {
  const auto calls = static_cast<std::size_t>(table.calls), m = static_cast<std::size_t>(bins);
  ghm_call_tots_kernel<<<1, kThreads>>>(table, tot_partial, out);
  GHM_CUDA_CHECK_LAUNCH();
  std::vector<unsigned long long> hist(calls * m);
  std::vector<double> tots(calls);
  GHM_CUDA_CHECK(cudaMemcpy(hist.data(), out.hist, hist.size() * sizeof(hist[0]), cudaMemcpyDeviceToHost));
  GHM_CUDA_CHECK(cudaMemcpy(tots.data(), out.tot, tots.size() * sizeof(double), cudaMemcpyDeviceToHost));
  std::vector<double> values;  // per call: R_0 .. R_{M-1}, tot
  for (std::size_t c = 0; c < calls; ++c) {
    for (std::size_t b = 0; b < m; ++b) values.push_back(static_cast<double>(hist[c * m + b]));
    values.push_back(tots[c]);
  }
  across.sum(values);
  for (std::size_t c = 0; c < calls; ++c) {
    for (std::size_t b = 0; b < m; ++b) hist[c * m + b] = static_cast<unsigned long long>(values[c * (m + 1) + b]);
    tots[c] = values[c * (m + 1) + m];
  }
  GHM_CUDA_CHECK(cudaMemcpy(out.hist, hist.data(), hist.size() * sizeof(hist[0]), cudaMemcpyHostToDevice));
  GHM_CUDA_CHECK(cudaMemcpy(out.tot, tots.data(), tots.size() * sizeof(double), cudaMemcpyHostToDevice));
}

// The four passes over all calls. cols: K (or D). The settings (checked where they were made) go
// to the kernels as they are.
template <class Elements>
GhmRun run_calls(const Elements& el, const GhmSettings& settings, const Tensor& pred,
                 std::span<const std::int64_t> call_rows, GhmEmaState& state, ElementWeights keep) {
  const int bins = settings.bins();
  const bool momentum = settings.has_momentum();
  const int calls = static_cast<int>(call_rows.size()) - 1;
  GHM_CHECK(calls >= 1 && calls <= kMaxGhmCalls, "GHM on CUDA: ", calls, " calls (levels); at most ", kMaxGhmCalls,
            " run in one launch sequence");
  const std::int64_t cols = pred.size(1);
  const Device device = pred.device();

  CallTable table;
  table.calls = calls;
  for (int c = 0; c <= calls; ++c) {
    table.elem_begin[c] = call_rows[static_cast<std::size_t>(c)] * cols;
    table.tile_begin[c] =
        c == 0 ? 0 : table.tile_begin[c - 1] + tiles_for(table.elem_begin[c] - table.elem_begin[c - 1]);
  }
  const std::int64_t tiles = table.tile_begin[calls];
  GHM_CHECK(tiles <= kMaxGridBlocks, "GHM on CUDA: ", pred.numel(), " elements exceed one grid of tiles");

  GhmRun run;
  run.calls = calls;
  run.bins = bins;
  run.momentum = momentum;
  run.loss = Tensor::empty(Shape{}, DType::F32, device);
  run.grad = Tensor::empty(pred.shape(), DType::F32, device);
  if (keep == ElementWeights::Keep) run.element_weight = Tensor::empty(pred.shape(), DType::F32, device);
  const StatsLayout layout(calls, bins);
  run.stats = Tensor::empty(Shape{static_cast<std::int64_t>(layout.bytes)}, DType::U8, device);
  const CallStatsView out = stats_view(run.stats.device_data<std::uint8_t>(), layout, momentum);
  float* acc_sum = momentum ? device_ema_state(state, bins, device) : nullptr;

  // Scratch, freed on return (stream-ordered reuse: later work on this stream runs after ours):
  // tot_partial [tiles] and loss_partial [tiles] doubles, then the bin bytes [E].
  const std::int64_t elements = pred.numel();
  Tensor scratch;
  double* tot_partial = nullptr;
  double* loss_partial = nullptr;
  std::uint8_t* bin_of = nullptr;
  if (tiles > 0) {
    scratch = Tensor::empty(Shape{tiles * 2 * static_cast<std::int64_t>(sizeof(double)) + elements}, DType::U8, device);
    std::uint8_t* base = scratch.device_data<std::uint8_t>();
    tot_partial = reinterpret_cast<double*>(base);
    loss_partial = tot_partial + tiles;
    bin_of = base + tiles * 2 * static_cast<std::int64_t>(sizeof(double));
  }
  GHM_CUDA_CHECK(cudaMemsetAsync(out.hist, 0, static_cast<std::size_t>(calls) * bins * sizeof(unsigned long long)));

  const auto grid = static_cast<unsigned>(tiles);
  if (tiles > 0) {
    const std::size_t counter_bytes = static_cast<std::size_t>(bins) * kThreads;
    ghm_bin_kernel<<<grid, kThreads, counter_bytes>>>(el, table, cols, settings, bin_of, out.hist, tot_partial);
    GHM_CUDA_CHECK_LAUNCH();
  }
  if (state.across) sum_across(state.across, table, tot_partial, out, bins);
  ghm_weights_kernel<<<1, kThreads>>>(table, settings, tot_partial, acc_sum, out,
                                      state.across ? state.across.processes : 0);
  GHM_CUDA_CHECK_LAUNCH();
  if (tiles > 0) {
    float* element_weight = run.element_weight.defined() ? run.element_weight.device_data<float>() : nullptr;
    ghm_grad_kernel<<<grid, kThreads>>>(el, table, cols, settings, bin_of, out.bin_weight, out.grad_scale,
                                        run.grad.device_data<float>(), element_weight, loss_partial);
    GHM_CUDA_CHECK_LAUNCH();
  }
  ghm_loss_kernel<<<1, kThreads>>>(table, settings, loss_partial, out, run.loss.device_data<float>());
  GHM_CUDA_CHECK_LAUNCH();
  return run;
}

}  // namespace

GhmRun ghm_c_calls(const GhmSettings& settings, const Tensor& pred, const DeviceClassTargets& t,
                   std::span<const std::int64_t> call_rows, GhmEmaState& state, ElementWeights keep) {
  const ClassElements el{{pred.device_data<float>(), t}};
  return run_calls(el, settings, pred, call_rows, state, keep);
}

GhmRun ghm_r_calls(const GhmSettings& settings, const Tensor& pred, const Tensor& target, const Tensor& label_weight,
                   std::span<const std::int64_t> call_rows, GhmEmaState& state, ElementWeights keep) {
  const RegressionInputs in{pred.device_data<float>(), target.device_data<float>(), label_weight.device_data<float>()};
  const RegressionElements el{in, settings.mu(), settings.mu_squared()};
  return run_calls(el, settings, pred, call_rows, state, keep);
}

std::vector<GhmCallStats> read_call_stats(const GhmRun& run) {
  const StatsLayout layout(run.calls, run.bins);
  const Tensor host = run.stats.detach().to(Device::cpu());
  const std::uint8_t* base = host.data<std::uint8_t>();
  auto read = [&](std::size_t offset, auto& value) { std::memcpy(&value, base + offset, sizeof(value)); };
  const auto m = static_cast<std::size_t>(run.bins);
  std::vector<GhmCallStats> calls(static_cast<std::size_t>(run.calls));
  for (std::size_t c = 0; c < calls.size(); ++c) {
    GhmCallStats& s = calls[c];
    s.num_in_bin.resize(m);
    s.bin_weight.resize(m);
    for (std::size_t i = 0; i < m; ++i) {
      unsigned long long r = 0;
      read(layout.hist + (c * m + i) * sizeof(r), r);
      s.num_in_bin[i] = static_cast<std::int64_t>(r);
      read(layout.bin_weight + (c * m + i) * sizeof(float), s.bin_weight[i]);
    }
    if (run.momentum) {
      s.acc_sum.resize(m);
      for (std::size_t i = 0; i < m; ++i) read(layout.acc_after + (c * m + i) * sizeof(float), s.acc_sum[i]);
    }
    read(layout.tot + c * sizeof(double), s.tot);
    read(layout.call_loss + c * sizeof(double), s.loss);
    read(layout.nonempty + c * sizeof(int), s.nonempty_bins);
  }
  return calls;
}

Tensor ghm_loss_output(const GhmRun& run, const Tensor& pred, std::vector<GhmCallStats>* stats, const char* op) {
  if (stats) *stats = read_call_stats(run);
  return fused_loss_output(run.loss, pred, run.grad, op);
}

GhmResult read_result(const GhmRun& run) {
  GhmResult r;
  r.loss = run.loss;
  r.grad = run.grad;
  r.element_weight = run.element_weight;
  r.calls = read_call_stats(run);
  for (const GhmCallStats& c : r.calls) r.total += c.loss;  // the order and arithmetic of ghm_loss_kernel
  return r;
}

}  // namespace ghm::losses::cuda
