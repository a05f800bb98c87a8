// Batch and group normalisation on CUDA: the twins of core/cpu/norm_cpu.cpp, deterministic.
//
// Letters: N images, C channels, S = H*W values per plane, G groups of Cg = C/G channels;
// x, y, dy, dx are [N, C, S].
//
//   batch norm, per channel c over M = N*S values:  mean, biased var (two passes, double sums);
//     y = x * scale[c] + shift[c];  sum_dy[c] = sum dy;  sum_dy_xhat[c] = sum dy (x - mean) * inv_std
//     dx = gamma inv_std / M * (M dy - sum_dy - xhat sum_dy_xhat)
//   group norm, per (image n, group g) over M = Cg*S contiguous values: the same with gamma, beta
//     per channel; dgamma[c] = sum dy xhat, dbeta[c] = sum dy over images and the plane
//
// Statistics are sums over "segments". A segment is read as planes of S contiguous values:
//
//   segment r, element t in [0, count):  plane i = t / S, k = t % S, at r*segment_stride + i*plane_stride + k
//     batch norm (and dgamma/dbeta), channel r:  count N*S, plane i = image i  (plane_stride C*S, segment_stride S)
//     group norm, (image, group) r = n*G + g:    count Cg*S, plane i = channel g*Cg + i of image n
//                                                (plane_stride S, segment_stride Cg*S: contiguous)
//
// Pass 1 (segment_partials_kernel), one block of 256 threads per (segment, chunk of kChunk
// elements): each thread adds its strided share in double (stepping the plane/offset pair instead
// of dividing per element), block_sum's tree of fixed shape (block_reduce.cuh) adds the thread
// sums, and the block writes its partial. Pass 2 (segment_finish_kernel), one block per segment:
// adds the segment's partials in block order with the same tree, then writes the statistic. The
// partition depends only on the sizes, so each run adds the same numbers in the same order:
// results are bit-identical from run to run (no atomics anywhere). The terms and accumulators are the CPU's
// (float terms, double sums), so statistics agree with the CPU to float rounding; the variance is a
// second pass around the double mean, as on the CPU.
//
// Per-element passes (y = x * scale + shift, the input gradients): one thread per element in a
// grid-stride loop; the channel of element j is (j / S) % C, computed in 32 bits when the tensor
// has fewer than 2^32 elements (the integer division is the costly part of these memory-bound
// kernels). Per-channel steps (running statistics, scale and shift): one thread per channel.
// Scratch (partials, the double means, the group sums) comes from the caching allocator.
//
// This file builds with --fmad=false (core/CMakeLists.txt), the CPU side with -ffp-contract=off:
// every formula above is written in the CPU's order of operations, so each output is the CPU's
// bit for bit wherever the statistics it uses agree.
#include "core/cuda/norm_cuda.h"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "core/check.h"
#include "core/cuda/block_reduce.cuh"
#include "core/cuda/caching_allocator.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/device_memory.h"
#include "core/cuda/launch.h"

namespace ghm::cuda {
namespace {

constexpr std::int64_t kChunk = 16 * kThreads;  // elements per block in pass 1 (16 per thread)
constexpr std::int64_t kMax32 = std::numeric_limits<std::uint32_t>::max();

struct SegmentLayout {
  std::int64_t count;           // elements per segment
  std::int64_t len;             // S: contiguous values per plane
  std::int64_t plane_stride;    // elements between planes i and i+1 of a segment
  std::int64_t segment_stride;  // elements between the first values of segments r and r+1
};

// Segment = channel, planes = the N images.
SegmentLayout channel_layout(std::int64_t n, std::int64_t c, std::int64_t s) { return {n * s, s, c * s, s}; }
// Segment = (image, group), planes = the group's Cg channels (contiguous).
SegmentLayout group_layout(std::int64_t c, std::int64_t s, std::int64_t groups) {
  const std::int64_t cg = c / groups;
  return {cg * s, s, s, cg * s};
}

// The two sums a statistic needs, added as a pair by one block_sum tree (block_reduce.cuh).
struct Partial {
  double a, b;
};

__device__ __forceinline__ Partial operator+(const Partial& x, const Partial& y) { return {x.a + y.a, x.b + y.b}; }

// ---- terms: term(r, i, at, a, b) adds element `at` (plane i of segment r) to the sums a, b ----

struct SumTerm {  // a += x
  const float* x;
  __device__ void operator()(std::int64_t, std::int64_t, std::int64_t at, double& a, double&) const { a += x[at]; }
};

struct SquaredDeviationTerm {  // a += (x - mean[r])^2, in double around the double mean
  const float* x;
  const double* mean;
  __device__ void operator()(std::int64_t r, std::int64_t, std::int64_t at, double& a, double&) const {
    const double d = x[at] - mean[r];
    a += d * d;
  }
};

struct BatchNormGradTerm {  // a += dy;  b += dy * (x - mean[r])  (a float product, as on the CPU)
  const float* dy;
  const float* x;
  const float* mean;
  __device__ void operator()(std::int64_t r, std::int64_t, std::int64_t at, double& a, double& b) const {
    const float g = dy[at];
    a += g;
    b += g * (x[at] - mean[r]);
  }
};

struct GroupNormInputGradTerm {  // g = dy * gamma[channel]:  a += g;  b += g * (x - mean[r]) * inv_std[r]
  const float* dy;
  const float* x;
  const float* gamma;  // may be null
  const float* mean;
  const float* inv_std;
  std::int64_t groups, cg;
  __device__ void operator()(std::int64_t r, std::int64_t i, std::int64_t at, double& a, double& b) const {
    const float gk = gamma != nullptr ? gamma[(r % groups) * cg + i] : 1.0f;
    const float g = dy[at] * gk;
    a += g;
    b += g * (x[at] - mean[r]) * inv_std[r];
  }
};

struct GroupNormAffineGradTerm {  // channel r, image i:  a += dy * (x - mean) * inv_std;  b += dy
  const float* dy;
  const float* x;
  const float* mean;     // [N * G]
  const float* inv_std;  // [N * G]
  std::int64_t groups, cg;
  __device__ void operator()(std::int64_t r, std::int64_t i, std::int64_t at, double& a, double& b) const {
    const std::int64_t ng = i * groups + r / cg;
    const float d = dy[at];
    a += d * (x[at] - mean[ng]) * inv_std[ng];
    b += d;
  }
};

// ---- finishers: finish(r, a, b) writes segment r's statistic from its total sums ----

struct MeanFinish {
  double count;
  double* mean_d;  // [segments], for the variance pass
  float* mean;
  __device__ void operator()(std::int64_t r, double a, double) const {
    const double mu = a / count;
    mean_d[r] = mu;
    mean[r] = static_cast<float>(mu);
  }
};

struct VarianceFinish {
  double count;
  float* var;
  __device__ void operator()(std::int64_t r, double a, double) const { var[r] = static_cast<float>(a / count); }
};

struct InvStdFinish {
  double count;
  float eps;
  float* inv_std;
  __device__ void operator()(std::int64_t r, double a, double) const {
    inv_std[r] = static_cast<float>(1.0 / sqrt(a / count + static_cast<double>(eps)));
  }
};

struct BatchNormGradFinish {
  const float* inv_std;
  float* sum_dy;
  float* sum_dy_xhat;
  __device__ void operator()(std::int64_t r, double a, double b) const {
    sum_dy[r] = static_cast<float>(a);
    sum_dy_xhat[r] = static_cast<float>(b * inv_std[r]);
  }
};

struct PairFinish {  // sums[2r] = a, sums[2r + 1] = b, rounded to float as the CPU does
  float* sums;
  __device__ void operator()(std::int64_t r, double a, double b) const {
    sums[2 * r] = static_cast<float>(a);
    sums[2 * r + 1] = static_cast<float>(b);
  }
};

struct GroupNormAffineGradFinish {
  float* dgamma;  // may be null
  float* dbeta;   // may be null
  __device__ void operator()(std::int64_t r, double a, double b) const {
    if (dgamma != nullptr) dgamma[r] = static_cast<float>(a);
    if (dbeta != nullptr) dbeta[r] = static_cast<float>(b);
  }
};

// Pass 1: block = r * chunks + chunk; partial[block] = the chunk's sums.   partial: [segments * chunks]
template <class Term>
__global__ void segment_partials_kernel(Term term, SegmentLayout l, std::int64_t chunks,
                                        Partial* __restrict__ partial) {
  const std::int64_t block = blockIdx.x;
  const std::int64_t r = block / chunks, lo = (block % chunks) * kChunk, hi = min(l.count, lo + kChunk);
  double a = 0, b = 0;
  std::int64_t t = lo + threadIdx.x;
  if (t < hi) {
    const std::int64_t base = r * l.segment_stride;
    std::int64_t i = t / l.len, k = t - i * l.len;  // t = i * len + k, 0 <= k < len, kept as t advances
    for (; t < hi; t += kThreads) {
      term(r, i, base + i * l.plane_stride + k, a, b);
      k += kThreads;
      if (k >= l.len) {
        i += k / l.len;
        k %= l.len;
      }
    }
  }
  const Partial sum = block_sum(Partial{a, b});
  if (threadIdx.x == 0) partial[block] = sum;
}

// Pass 2: block r adds partial[r * chunks, (r + 1) * chunks) and finishes segment r.
template <class Finish>
__global__ void segment_finish_kernel(Finish finish, const Partial* __restrict__ partial, std::int64_t chunks) {
  const std::int64_t r = blockIdx.x;
  const Partial* p = partial + r * chunks;
  double a = 0, b = 0;
  for (std::int64_t j = threadIdx.x; j < chunks; j += kThreads) {
    a += p[j].a;
    b += p[j].b;
  }
  const Partial sum = block_sum(Partial{a, b});
  if (threadIdx.x == 0) finish(r, sum.a, sum.b);
}

// ---- per-element kernels (Index: uint32 when the tensor has < 2^32 elements, else int64) ----

template <class Index>
__global__ void channel_affine_kernel(const float* x, const float* __restrict__ scale, const float* __restrict__ shift,
                                      float* y, std::int64_t total, Index s, Index c) {
  for (std::int64_t i = first_index(); i < total; i += grid_stride()) {
    const Index ch = (static_cast<Index>(i) / s) % c;
    y[i] = x[i] * scale[ch] + shift[ch];
  }
}

template <class Index>
__global__ void batch_norm_backward_input_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                                 const float* __restrict__ mean, const float* __restrict__ inv_std,
                                                 const float* __restrict__ gamma, const float* __restrict__ sum_dy,
                                                 const float* __restrict__ sum_dy_xhat, float* __restrict__ dx,
                                                 std::int64_t total, Index s, Index c, float m) {
  for (std::int64_t i = first_index(); i < total; i += grid_stride()) {
    const Index ch = (static_cast<Index>(i) / s) % c;
    const float k = (gamma != nullptr ? gamma[ch] : 1.0f) * inv_std[ch] / m;
    dx[i] = k * (m * dy[i] - sum_dy[ch] - (x[i] - mean[ch]) * inv_std[ch] * sum_dy_xhat[ch]);
  }
}

// m: values per group (Cg * S).
template <class Index>
__global__ void group_norm_affine_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                         const float* __restrict__ beta, const float* __restrict__ mean,
                                         const float* __restrict__ inv_std, float* __restrict__ y, std::int64_t total,
                                         Index s, Index c, Index m) {
  for (std::int64_t i = first_index(); i < total; i += grid_stride()) {
    const Index j = static_cast<Index>(i), ch = (j / s) % c, ng = j / m;
    const float a = (gamma != nullptr ? gamma[ch] : 1.0f) * inv_std[ng];
    const float sh = (beta != nullptr ? beta[ch] : 0.0f) - mean[ng] * a;
    y[i] = x[i] * a + sh;
  }
}

// sums: [N * G, 2] = (sum g, sum g * xhat) per group.
template <class Index>
__global__ void group_norm_backward_input_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                                 const float* __restrict__ gamma, const float* __restrict__ mean,
                                                 const float* __restrict__ inv_std, const float* __restrict__ sums,
                                                 float* __restrict__ dx, std::int64_t total, Index s, Index c, Index m,
                                                 float mf) {
  for (std::int64_t i = first_index(); i < total; i += grid_stride()) {
    const Index j = static_cast<Index>(i), ch = (j / s) % c, ng = j / m;
    const float gk = gamma != nullptr ? gamma[ch] : 1.0f;
    const std::int64_t pair = 2 * static_cast<std::int64_t>(ng);
    const float mu = mean[ng], inv = inv_std[ng], a = sums[pair], bsum = sums[pair + 1];
    dx[i] = inv / mf * (mf * dy[i] * gk - a - (x[i] - mu) * inv * bsum);
  }
}

// ---- per-channel kernels ----

__global__ void update_running_kernel(const float* __restrict__ mean, const float* __restrict__ var, std::int64_t c,
                                      float momentum, float unbias, float* __restrict__ running_mean,
                                      float* __restrict__ running_var) {
  for (std::int64_t ch = first_index(); ch < c; ch += grid_stride()) {
    running_mean[ch] = (1 - momentum) * running_mean[ch] + momentum * mean[ch];
    running_var[ch] = (1 - momentum) * running_var[ch] + momentum * var[ch] * unbias;
  }
}

__global__ void scale_shift_kernel(const float* __restrict__ mean, const float* __restrict__ var,
                                   const float* __restrict__ gamma, const float* __restrict__ beta, std::int64_t c,
                                   float eps, float* __restrict__ inv_std, float* __restrict__ scale,
                                   float* __restrict__ shift) {
  for (std::int64_t ch = first_index(); ch < c; ch += grid_stride()) {
    const float inv = 1.0f / sqrtf(var[ch] + eps);
    const float sc = (gamma != nullptr ? gamma[ch] : 1.0f) * inv;
    inv_std[ch] = inv;
    scale[ch] = sc;
    shift[ch] = (beta != nullptr ? beta[ch] : 0.0f) - mean[ch] * sc;
  }
}

__global__ void frozen_scale_shift_kernel(const float* __restrict__ gamma, const float* __restrict__ beta,
                                          const float* __restrict__ running_mean,
                                          const float* __restrict__ running_var, std::int64_t c, float eps,
                                          float* __restrict__ scale, float* __restrict__ shift) {
  for (std::int64_t ch = first_index(); ch < c; ch += grid_stride()) {
    const float sc = (gamma != nullptr ? gamma[ch] : 1.0f) / sqrtf(running_var[ch] + eps);
    scale[ch] = sc;
    shift[ch] = (beta != nullptr ? beta[ch] : 0.0f) - running_mean[ch] * sc;
  }
}

// ---- host side ----

int current_device() {
  int d = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

// Device memory for the duration of one call, from the current device's caching allocator. Reuse
// is stream-ordered (everything runs on the legacy default stream), so giving it back right after
// queueing the kernels that use it is safe.
class Scratch {
 public:
  explicit Scratch(std::size_t bytes) : alloc_(device_allocator(current_device())), ptr_(alloc_.allocate(bytes)) {}
  ~Scratch() { alloc_.free(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  CachingAllocator& alloc_;
  void* ptr_;
};

// finish(r, sum of term over segment r) for r in [0, segments), in the fixed order described at the top.
template <class Term, class Finish>
void reduce_segments(std::int64_t segments, const SegmentLayout& layout, const Term& term, const Finish& finish) {
  if (segments == 0) return;
  const std::int64_t chunks = std::max<std::int64_t>(1, (layout.count + kChunk - 1) / kChunk);
  GHM_CHECK(segments <= std::numeric_limits<int>::max() / chunks, "norm: ", segments, " segments of ", layout.count,
            " values need more blocks than one grid holds");
  const std::int64_t blocks = segments * chunks;
  const Scratch partial(static_cast<std::size_t>(blocks) * sizeof(Partial));
  segment_partials_kernel<<<static_cast<unsigned>(blocks), kThreads>>>(term, layout, chunks, partial.as<Partial>());
  GHM_CUDA_CHECK_LAUNCH();
  segment_finish_kernel<<<static_cast<unsigned>(segments), kThreads>>>(finish, partial.as<Partial>(), chunks);
  GHM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void channel_mean_var(const float* x, std::int64_t n, std::int64_t c, std::int64_t s, float* mean, float* var) {
  if (c == 0) return;
  const SegmentLayout layout = channel_layout(n, c, s);
  const double count = static_cast<double>(n * s);
  const Scratch mean_d(static_cast<std::size_t>(c) * sizeof(double));
  reduce_segments(c, layout, SumTerm{x}, MeanFinish{count, mean_d.as<double>(), mean});
  reduce_segments(c, layout, SquaredDeviationTerm{x, mean_d.as<double>()}, VarianceFinish{count, var});
}

void channel_affine(const float* x, const float* scale, const float* shift, float* y, std::int64_t n, std::int64_t c,
                    std::int64_t s) {
  const std::int64_t total = n * c * s;
  if (total == 0) return;
  if (total <= kMax32) {
    channel_affine_kernel<std::uint32_t><<<blocks_for(total), kThreads>>>(
        x, scale, shift, y, total, static_cast<std::uint32_t>(s), static_cast<std::uint32_t>(c));
  } else {
    channel_affine_kernel<std::int64_t><<<blocks_for(total), kThreads>>>(x, scale, shift, y, total, s, c);
  }
  GHM_CUDA_CHECK_LAUNCH();
}

void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* inv_std, std::int64_t n,
                       std::int64_t c, std::int64_t s, float* sum_dy, float* sum_dy_xhat) {
  reduce_segments(c, channel_layout(n, c, s), BatchNormGradTerm{dy, x, mean},
                  BatchNormGradFinish{inv_std, sum_dy, sum_dy_xhat});
}

void batch_norm_train_backward_input(const float* dy, const float* x, const float* mean, const float* inv_std,
                                     const float* gamma, const float* sum_dy, const float* sum_dy_xhat, float* dx,
                                     std::int64_t n, std::int64_t c, std::int64_t s) {
  const std::int64_t total = n * c * s;
  if (total == 0) return;
  const float m = static_cast<float>(n * s);
  if (total <= kMax32) {
    batch_norm_backward_input_kernel<std::uint32_t><<<blocks_for(total), kThreads>>>(
        dy, x, mean, inv_std, gamma, sum_dy, sum_dy_xhat, dx, total, static_cast<std::uint32_t>(s),
        static_cast<std::uint32_t>(c), m);
  } else {
    batch_norm_backward_input_kernel<std::int64_t><<<blocks_for(total), kThreads>>>(
        dy, x, mean, inv_std, gamma, sum_dy, sum_dy_xhat, dx, total, s, c, m);
  }
  GHM_CUDA_CHECK_LAUNCH();
}

void batch_norm_update_running(const float* mean, const float* var, std::int64_t c, float momentum, float unbias,
                               float* running_mean, float* running_var) {
  if (c == 0) return;
  update_running_kernel<<<blocks_for(c), kThreads>>>(mean, var, c, momentum, unbias, running_mean, running_var);
  GHM_CUDA_CHECK_LAUNCH();
}

void batch_norm_scale_shift(const float* mean, const float* var, const float* gamma, const float* beta,
                            std::int64_t c, float eps, float* inv_std, float* scale, float* shift) {
  if (c == 0) return;
  scale_shift_kernel<<<blocks_for(c), kThreads>>>(mean, var, gamma, beta, c, eps, inv_std, scale, shift);
  GHM_CUDA_CHECK_LAUNCH();
}

void frozen_batch_norm_scale_shift(const float* gamma, const float* beta, const float* running_mean,
                                   const float* running_var, std::int64_t c, float eps, float* scale, float* shift) {
  if (c == 0) return;
  frozen_scale_shift_kernel<<<blocks_for(c), kThreads>>>(gamma, beta, running_mean, running_var, c, eps, scale, shift);
  GHM_CUDA_CHECK_LAUNCH();
}

void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* inv_std,
                        std::int64_t n, std::int64_t c, std::int64_t s, std::int64_t groups, float eps) {
  const std::int64_t segments = n * groups, m = c / groups * s, total = n * c * s;
  if (segments == 0) return;
  const SegmentLayout layout = group_layout(c, s, groups);
  const double count = static_cast<double>(m);
  const Scratch mean_d(static_cast<std::size_t>(segments) * sizeof(double));
  reduce_segments(segments, layout, SumTerm{x}, MeanFinish{count, mean_d.as<double>(), mean});
  reduce_segments(segments, layout, SquaredDeviationTerm{x, mean_d.as<double>()}, InvStdFinish{count, eps, inv_std});
  if (total == 0) return;
  if (total <= kMax32) {
    group_norm_affine_kernel<std::uint32_t><<<blocks_for(total), kThreads>>>(
        x, gamma, beta, mean, inv_std, y, total, static_cast<std::uint32_t>(s), static_cast<std::uint32_t>(c),
        static_cast<std::uint32_t>(m));
  } else {
    group_norm_affine_kernel<std::int64_t><<<blocks_for(total), kThreads>>>(x, gamma, beta, mean, inv_std, y, total,
                                                                            s, c, m);
  }
  GHM_CUDA_CHECK_LAUNCH();
}

void group_norm_backward(const float* dy, const float* x, const float* gamma, const float* mean, const float* inv_std,
                         float* dx, float* dgamma, float* dbeta, std::int64_t n, std::int64_t c, std::int64_t s,
                         std::int64_t groups) {
  const std::int64_t cg = c / groups, segments = n * groups, m = cg * s, total = n * c * s;
  if (dx != nullptr && total > 0) {
    const Scratch sums(static_cast<std::size_t>(2 * segments) * sizeof(float));
    reduce_segments(segments, group_layout(c, s, groups),
                    GroupNormInputGradTerm{dy, x, gamma, mean, inv_std, groups, cg}, PairFinish{sums.as<float>()});
    const float mf = static_cast<float>(m);
    if (total <= kMax32) {
      group_norm_backward_input_kernel<std::uint32_t><<<blocks_for(total), kThreads>>>(
          dy, x, gamma, mean, inv_std, sums.as<float>(), dx, total, static_cast<std::uint32_t>(s),
          static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(m), mf);
    } else {
      group_norm_backward_input_kernel<std::int64_t><<<blocks_for(total), kThreads>>>(
          dy, x, gamma, mean, inv_std, sums.as<float>(), dx, total, s, c, m, mf);
    }
    GHM_CUDA_CHECK_LAUNCH();
  }
  if (dgamma != nullptr || dbeta != nullptr)
    reduce_segments(c, channel_layout(n, c, s), GroupNormAffineGradTerm{dy, x, mean, inv_std, groups, cg},
                    GroupNormAffineGradFinish{dgamma, dbeta});
}

}  // namespace ghm::cuda
