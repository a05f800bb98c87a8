// Stream compaction of the logits above a threshold, in index order, without atomics:
//
//   pass 1  block b of tile [b * kTile, (b + 1) * kTile): thread t counts the passing elements of
//           its contiguous run [t * kRun, (t + 1) * kRun) of the tile -> the block's sum count[b]
//           (block_sum, block_reduce.cuh)
//   host    offset[b] = count[0] + ... + count[b - 1] (exclusive scan, int64), total
//   pass 2  the same runs again: an exclusive scan of the threads' counts in shared memory gives
//           each thread its first slot, offset[b] + scan[t]; it writes its passing elements there
//           in order (index and logit)
// So the output is sorted by index whatever the scheduling. Two synchronising copies per call:
// the tile counts down, then the candidates.
#include "detection/cuda/candidates_cuda.h"

#include <algorithm>

#include "core/check.h"
#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/device_guard.h"
#include "core/cuda/launch.h"
#include "core/tensor.h"

namespace ghm::detection::cuda {
namespace {

using ghm::cuda::block_sum;
using ghm::cuda::kThreads;

constexpr int kRun = 16;                   // elements per thread
constexpr std::int64_t kTile = kThreads * kRun;  // elements per block

__device__ __forceinline__ bool passes(float v, float threshold) { return v > threshold; }

__global__ void count_kernel(const float* __restrict__ logits, std::int64_t n, float threshold,
                             std::int32_t* __restrict__ count) {
  const std::int64_t begin = blockIdx.x * kTile + static_cast<std::int64_t>(threadIdx.x) * kRun;
  const std::int64_t end = min(begin + kRun, n);
  std::int32_t c = 0;
  for (std::int64_t i = begin; i < end; ++i) c += passes(logits[i], threshold) ? 1 : 0;
  const std::int32_t total = block_sum(c);
  if (threadIdx.x == 0) count[blockIdx.x] = total;
}

__global__ void write_kernel(const float* __restrict__ logits, std::int64_t n, float threshold,
                             const std::int64_t* __restrict__ offset, std::int64_t* __restrict__ out_index,
                             float* __restrict__ out_logit) {
  __shared__ std::int32_t s[kThreads];
  const std::int64_t begin = blockIdx.x * kTile + static_cast<std::int64_t>(threadIdx.x) * kRun;
  const std::int64_t end = min(begin + kRun, n);
  std::int32_t c = 0;
  for (std::int64_t i = begin; i < end; ++i) c += passes(logits[i], threshold) ? 1 : 0;
  s[threadIdx.x] = c;
  __syncthreads();
  if (threadIdx.x == 0) {  // exclusive scan of 256 counts: cheap next to the tile's loads
    std::int32_t run = 0;
    for (int t = 0; t < kThreads; ++t) {
      const std::int32_t v = s[t];
      s[t] = run;
      run += v;
    }
  }
  __syncthreads();
  std::int64_t slot = offset[blockIdx.x] + s[threadIdx.x];
  for (std::int64_t i = begin; i < end; ++i) {
    const float v = logits[i];
    if (passes(v, threshold)) {
      out_index[slot] = i;
      out_logit[slot] = v;
      ++slot;
    }
  }
}

}  // namespace

Candidates select_above(const float* logits, std::int64_t n, float threshold, int device) {
  Candidates out;
  if (n == 0) return out;
  const ghm::cuda::DeviceGuard guard(device);
  const Device dev = Device::cuda(device);
  const std::int64_t tiles = (n + kTile - 1) / kTile;
  GHM_CHECK(tiles <= 0x7fffffff, "postprocess: ", n, " logits in one level are more than one launch covers");
  Tensor count = Tensor::empty(Shape{tiles}, DType::I32, dev);
  count_kernel<<<static_cast<unsigned>(tiles), kThreads>>>(logits, n, threshold, count.device_data<std::int32_t>());
  GHM_CUDA_CHECK_LAUNCH();
  const std::vector<std::int32_t> counts = count.to(Device::cpu()).to_vector<std::int32_t>();
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(tiles));
  std::int64_t total = 0;
  for (std::size_t b = 0; b < counts.size(); ++b) {
    offsets[b] = total;
    total += counts[b];
  }
  if (total == 0) return out;
  const Tensor offset = Tensor::from_vector(offsets, Shape{tiles}).to(dev);
  Tensor index = Tensor::empty(Shape{total}, DType::I64, dev), value = Tensor::empty(Shape{total}, DType::F32, dev);
  write_kernel<<<static_cast<unsigned>(tiles), kThreads>>>(logits, n, threshold, offset.device_data<std::int64_t>(),
                                                           index.device_data<std::int64_t>(),
                                                           value.device_data<float>());
  GHM_CUDA_CHECK_LAUNCH();
  out.index = index.to(Device::cpu()).to_vector<std::int64_t>();
  out.logit = value.to(Device::cpu()).to_vector<float>();
  return out;
}

}  // namespace ghm::detection::cuda
