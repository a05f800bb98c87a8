// Fixed-order sums over a warp and over a block: the one reduction every CUDA kernel that adds
// across threads uses (core/cuda reductions and norms, the losses, the optimizer's gradient norm,
// detection's candidate counts).
//
// block_sum(v), for a block of kThreads (= 256, launch.h) threads each holding one value v_t:
//
//   s[t] = v_t;   for h = 128, 64, ..., 1:   s[t] = s[t] + s[t + h]   for t < h   (barrier between)
//
// so the total is a tree of fixed shape, s[0] = (...((v_0 + v_128) + (v_64 + v_192)) + ...), the
// same additions in the same order on every run whatever the scheduling. With double accumulators
// (or integers) a kernel's result is bit-identical from run to run. The usual two-pass pattern:
// pass 1 has each thread add its strided share of a fixed chunk in order, then block_sum gives the
// chunk's partial; pass 2, one block, adds the partials the same way in chunk order. No atomics.
// The result is returned to every thread; every thread of the block must call it, and the block
// must have exactly kThreads threads. T needs `+` (a struct of several sums can define one, so one
// tree carries them all: each component is added exactly as it would be alone).
//
// warp_sum(v), over the 32 lanes of a full warp: shuffle-down steps of 16, 8, 4, 2, 1 lanes,
//
//   lane l:  v_l + v_{l+16},  then + the value 8 lanes on, ...   (valid in lane 0)
//
// again a fixed tree (lane 0 gets ((v_0 + v_16) + (v_8 + v_24)) + ...). For integer counts, where
// any order gives the same result, it is the cheaper reduction: no shared memory, no barrier.
//
// Only for CUDA translation units (.cu).
#pragma once

#include "core/cuda/launch.h"

namespace ghm::cuda {

constexpr int kWarpSize = 32;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v = v + __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

template <class T>
__device__ __forceinline__ T block_sum(T v) {
  __shared__ T s[kThreads];
  const unsigned t = threadIdx.x;
  s[t] = v;
  __syncthreads();
  for (unsigned half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) s[t] = s[t] + s[t + half];
    __syncthreads();
  }
  const T total = s[0];
  __syncthreads();  // s is reused by the block's next call
  return total;
}

}  // namespace ghm::cuda
