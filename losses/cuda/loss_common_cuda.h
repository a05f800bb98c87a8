// Device pieces shared by the CUDA loss kernels (ghm_cuda.cu, baselines_cuda.cu, softmax_ce_cuda.cu):
// the tile geometry, the final sum of the per-block partial losses, the row/column walk over a
// [N, K] block, the inputs of one element and a thread's loads of them, and the logistic terms. Sums over a tile use block_sum (core/cuda/block_reduce.cuh).
//
// Tiles: a block of kThreads threads owns kTile = kThreads * kItems consecutive elements; thread t
// takes elements t, t + kThreads, ..., so each load instruction of a warp reads 32 consecutive
// elements (coalesced), and every sum over a tile is taken in the same order on every run.
//
// Only for CUDA translation units (.cu).
#pragma once

#include <cstdint>

#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/launch.h"
#include "losses/class_targets.h"

namespace ghm::losses::cuda {

using ghm::cuda::block_sum;
using ghm::cuda::kThreads;
using ghm::cuda::warp_sum;

constexpr int kItems = 16;                                       // elements per thread
constexpr std::int64_t kTile = std::int64_t{kThreads} * kItems;  // elements per block
constexpr std::int64_t kMaxGridBlocks = 0x7fffffff;              // gridDim.x limit

inline std::int64_t tiles_for(std::int64_t elements) { return (elements + kTile - 1) / kTile; }

// One block: loss[0] = f32(sum of partial[0, count) * loss_weight / avg_factor), the partial sums
// added in a fixed order. Static: each loss file gets its own copy of the kernel.
static __global__ void __launch_bounds__(kThreads)
    finish_loss_kernel(const double* __restrict__ partial, std::int64_t count, double loss_weight, double avg_factor,
                       float* __restrict__ loss) {
  double acc = 0;
  for (std::int64_t i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double sum = block_sum(acc);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(sum * loss_weight / avg_factor);
}

inline int current_device() {
  int d = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

// q = a / b and r = a % b for a >= 0, b > 0; 32-bit arithmetic when both fit (the usual case).
__device__ __forceinline__ void div_mod(std::int64_t a, std::int64_t b, std::int64_t& q, std::int64_t& r) {
  if (((a | b) >> 32) == 0) {
    const auto ua = static_cast<std::uint32_t>(a), ub = static_cast<std::uint32_t>(b);
    const std::uint32_t uq = ua / ub;
    q = uq;
    r = ua - uq * ub;
  } else {
    q = a / b;
    r = a - q * b;
  }
}

// Row and column of a thread's element in a row-major [N, K] block, moved kThreads elements on at
// each step (the thread's next element in its tile) without dividing again.
struct RowCursor {
  std::int64_t row = 0, col = 0, step_rows = 0, step_cols = 0, k = 1;

  __device__ RowCursor(std::int64_t e, std::int64_t cols) : k(cols) {
    div_mod(e, k, row, col);
    div_mod(kThreads, k, step_rows, step_cols);
  }
  __device__ void advance() {
    row += step_rows;
    col += step_cols;
    if (col >= k) {
      col -= k;
      ++row;
    }
  }
};

// A classification element: logit x, target y (one-hot value, or 1 where the column is the row's
// label), label weight w.
struct ClassItem {
  float x, y, w;
};

__device__ __forceinline__ ClassItem class_item(const float* __restrict__ x, const DeviceClassTargets& t,
                                                std::int64_t e, const RowCursor& at) {
  float y;
  if (t.onehot != nullptr) {
    y = t.onehot[e];
  } else {
    const std::int64_t label = t.labels64 != nullptr ? t.labels64[at.row] : t.labels32[at.row];
    y = label == at.col ? 1.0f : 0.0f;
  }
  const float w = t.weight_per_row ? t.weight[at.row] : t.weight[e];
  return {x[e], y, w};
}

// Where a kernel reads its elements from: item(e, at) is element e, at its row and column.
// Classification: logits x [N, K] and the targets and weights t.
struct ClassInputs {
  const float* x;
  DeviceClassTargets t;

  __device__ ClassItem item(std::int64_t e, const RowCursor& at) const { return class_item(x, t, e, at); }
};

// Regression: pred, target and weight at the same flat index (the row walk is not needed).
struct RegressionInputs {
  const float* pred;
  const float* target;
  const float* weight;

  __device__ ClassItem item(std::int64_t e, const RowCursor&) const { return {pred[e], target[e], weight[e]}; }
};

// A thread's kItems elements of its tile, first + j * kThreads (zeros from `end` on), every load
// issued before any is used. cols: the row length K of the inputs (1 for RegressionInputs).
template <class Inputs>
__device__ __forceinline__ void load_items(const Inputs& in, std::int64_t first, std::int64_t end, std::int64_t cols,
                                           ClassItem (&items)[kItems]) {
  RowCursor at(first, cols);
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const std::int64_t e = first + std::int64_t{j} * kThreads;
    items[j] = e < end ? in.item(e, at) : ClassItem{0.0f, 0.0f, 0.0f};
    at.advance();
  }
}

// sigmoid(x) from t = e^-|x| (nothing overflows), the CPU's formula with the device's expf
// (max 2 ulp), and the stable BCE with logits max(x, 0) - x*y + log(1 + e^-|x|).
struct LogisticTerms {
  float p, bce;
};

__device__ __forceinline__ float logistic_p(float x) {
  const float t = expf(-fabsf(x));
  return (x >= 0.0f ? 1.0f : t) / (1.0f + t);
}

__device__ __forceinline__ LogisticTerms logistic_terms(float x, float y) {
  const float t = expf(-fabsf(x));
  const float p = (x >= 0.0f ? 1.0f : t) / (1.0f + t);
  const float relu = x > 0.0f ? x : 0.0f;
  return {p, fmaf(-x, y, relu) + log1pf(t)};
}

}  // namespace ghm::losses::cuda
