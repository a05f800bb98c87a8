// 2-D convolution on CUDA through cuDNN 9's convolution API. A plain C++ file (host compiler only).
// Letters as in conv_cudnn.h; sh, sw strides, ph, pw padding, dh, dw dilation.
//
//   y[n,o,oh,ow] = b[o] + sum_{c in group(o), i, j} W[o,c,i,j] x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
//                                   cudnnConvolutionForward (beta 0), then cudnnAddTensor with b seen as
//                                   [1,O,1,1], then for conv2d_relu cudnnActivationForward in place
//   dx = the transpose of that map applied to dy                       cudnnConvolutionBackwardData
//   dW[o,c,i,j] = sum_{n,oh,ow} dy[n,o,oh,ow] x[n, c, ...]               cudnnConvolutionBackwardFilter
//   db[o] = sum_{n,oh,ow} dy[n,o,oh,ow]          sum_middle (reduce_cuda.h): per (n, o) over HO*WO in
//                                                double, then over n in float; a fixed order, as every sum here
// cuDNN pads both sides by ph (pw) and rounds the output size down, as PyTorch and the CPU kernels.
// Cross-correlation mode (CUDNN_CROSS_CORRELATION), groups through cudnnSetConvolutionGroupCount.
// The separate bias and ReLU passes are cheap next to the convolution; the fused
// cudnnConvolutionBiasActivationForward would tie the algorithm choice to what it supports.
//
// Algorithm choice, once per (pass, device, geometry, TF32 mode), then cached:
//   1. the search math type: CUDNN_FMA_MATH when TF32 is off (no tensor-core kernel is eligible),
//      CUDNN_DEFAULT_MATH when it is on (FMA and TF32 tensor-core kernels are both eligible);
//   2. the workspace budget: min(1 GiB, free device memory + the caching allocator's free blocks);
//   3. a workspace as large as the largest one any algorithm asks for within the budget is taken
//      from the caching allocator, and cudnnFind*AlgorithmEx times every algorithm on the call's own
//      buffers (it writes the output, which the chosen algorithm then overwrites: outputs are always
//      written with beta = 0, never accumulated into);
//   4. the fastest result that succeeded, is deterministic (CUDNN_DETERMINISTIC: no atomics, the
//      same bits on every run), has an allowed math type (only CUDNN_FMA_MATH when TF32 is off; never
//      the FP16 conversion) and fits the workspace wins; when Find offers none, the first such
//      result of the cudnnGet*Algorithm_v7 heuristics (within the budget);
//   5. the plan (algorithm, its math type, its workspace size) goes into a map under a mutex. Each
//      call builds its descriptors (host-only, microseconds), sets the plan's math type on the
//      convolution descriptor (cuDNN picks the kernel from algorithm and math type together),
//      takes the workspace from the caching allocator (Tensor::empty, U8) and runs with beta = 0.
// Two threads meeting a new shape at once may both search; the first plan stored is kept.
//
// bf16 and fp16 (the `math` argument, core/precision.h): the two operands a pass reads are
// narrowed into 16-bit copies taken from the caching allocator (core/cuda/half_cuda.h), the pass
// runs on 16-bit descriptors with float32 compute (cuDNN's pseudo-half configurations, on tensor
// cores), and its 16-bit result is widened into the caller's float32 buffer. The legacy API has no
// mixed configuration, so unlike the CPU's oneDNN kernels (float32 results) the result of each
// pass is rounded to 16 bits, as PyTorch's autocast rounds it. Any deterministic algorithm but FFT
// and Winograd, with any math type, is eligible (see eligible()); the precision is in the plan's key.
//
// Empty problems never reach cuDNN (its descriptors reject zero extents): an output with no
// elements needs nothing, and an output whose sums have no terms is zero-filled (forward: then
// the bias and the ReLU, as in the CPU kernels).
#include "core/cuda/conv_cudnn.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/cuda/caching_allocator.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/cudnn_handle.h"
#include "core/cuda/device_memory.h"
#include "core/cuda/half_cuda.h"
#include "core/cuda/math_mode.h"
#include "core/cuda/reduce_cuda.h"
#include "core/tensor.h"

namespace ghm::cuda {
namespace {

using cpu::ConvPass;
using cpu::conv_pass_name;
using cpu::describe;

constexpr std::size_t kMaxWorkspaceBytes = std::size_t{1} << 30;

std::int64_t input_elements(const ConvGeometry& g) { return g.n * g.c * g.h * g.w; }
std::int64_t output_elements(const ConvGeometry& g) { return g.n * g.o * g.ho * g.wo; }
std::int64_t weight_elements(const ConvGeometry& g) { return g.o * (g.c / g.p.groups) * g.kh * g.kw; }

int current_device() {
  int device = 0;
  GHM_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

// p[0, count) = 0, queued on the legacy default stream.
void zero_fill(float* p, std::int64_t count) {
  GHM_CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<std::size_t>(count) * sizeof(float), nullptr));
}

// A workspace of `bytes` from the caching allocator (no allocation for 0 bytes).
Tensor workspace_tensor(std::size_t bytes, int device) {
  return Tensor::empty(Shape{static_cast<std::int64_t>(bytes)}, DType::U8, Device::cuda(device));
}

// ---- the plan cache ---------------------------------------------------------------------------

struct PlanKey {
  ConvPass pass;
  Precision math;
  int device;
  bool tf32;
  std::int64_t n, c, h, w, o, kh, kw;
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
  auto operator<=>(const PlanKey&) const = default;
};

PlanKey make_key(ConvPass pass, Precision math, int device, bool tf32, const ConvGeometry& g) {
  const Conv2dParams& p = g.p;
  return {pass, math, device, tf32, g.n, g.c, g.h, g.w, g.o, g.kh, g.kw,
          p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups};
}

struct Plan {
  int algo;                     // the pass's cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math;         // the math type cuDNN reported with that algorithm
  std::size_t workspace_bytes;  // what that algorithm needs
};

class PlanCache {
 public:
  std::optional<Plan> find(const PlanKey& key) const {
    const std::lock_guard lock(mutex_);
    const auto it = plans_.find(key);
    if (it == plans_.end()) return std::nullopt;
    return it->second;
  }
  Plan insert(const PlanKey& key, const Plan& plan) {
    const std::lock_guard lock(mutex_);
    return plans_.try_emplace(key, plan).first->second;  // a plan stored meanwhile wins
  }

 private:
  mutable std::mutex mutex_;
  std::map<PlanKey, Plan> plans_;
};

PlanCache& plan_cache() {
  static PlanCache cache;
  return cache;
}

// ---- descriptors and the three passes ---------------------------------------------------------

// The descriptors of one convolution: x [N,C,H,W], w [O,C/G,KH,KW], y [N,O,HO,WO] (dx and dy use
// those of x and y).
struct ConvDescriptors {
  ConvDescriptors(const ConvGeometry& g, cudnnMathType_t math, cudnnDataType_t type)
      : x(g.n, g.c, g.h, g.w, type),
        w(g.o, g.c / g.p.groups, g.kh, g.kw, type),
        y(g.n, g.o, g.ho, g.wo, type),
        conv(g.p, math) {}
  TensorDescriptor x;
  FilterDescriptor w;
  TensorDescriptor y;
  ConvolutionDescriptor conv;
};

// cuDNN's output extents for these descriptors must be ours (a mismatch would read or write out of
// bounds); checked once per plan.
void check_output_size(const ConvDescriptors& d, const ConvGeometry& g) {
  int n = 0, o = 0, ho = 0, wo = 0;
  GHM_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(d.conv.get(), d.x.get(), d.w.get(), &n, &o, &ho, &wo));
  GHM_CHECK(n == g.n && o == g.o && ho == g.ho && wo == g.wo, "cuDNN computes the output [", n, ", ", o, ", ", ho,
            ", ", wo, "], conv2d expects [", g.n, ", ", g.o, ", ", g.ho, ", ", g.wo, "]");
}

constexpr float kOne = 1.0f, kZero = 0.0f;  // alpha and beta: out = 1 * op(...) + 0 * out

struct ForwardPass {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr ConvPass kPass = ConvPass::Forward;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static bool transform(Algo a) {  // FFT or Winograd: see eligible()
    return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
  }

  const void* x;  // [N,C,H,W]       float32, or 16-bit in bf16 / fp16
  const void* w;  // [O,C/G,KH,KW]
  void* y;        // [N,O,HO,WO]

  static int max_count(cudnnHandle_t h) {
    int count = 0;
    GHM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
    return count;
  }
  static int heuristics(cudnnHandle_t h, const ConvDescriptors& d, Perf* perf, int capacity) {
    int returned = 0;
    GHM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(), capacity,
                                                           &returned, perf));
    return returned;
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvDescriptors& d, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(), algo, bytes);
  }
  int find(cudnnHandle_t h, const ConvDescriptors& d, Perf* perf, int capacity, void* ws, std::size_t bytes) const {
    int returned = 0;
    GHM_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, d.x.get(), x, d.w.get(), w, d.conv.get(), d.y.get(), y,
                                                           capacity, &returned, perf, ws, bytes));
    return returned;
  }
  void run(cudnnHandle_t h, const ConvDescriptors& d, Algo algo, void* ws, std::size_t bytes) const {
    GHM_CUDNN_CHECK(cudnnConvolutionForward(h, &kOne, d.x.get(), x, d.w.get(), w, d.conv.get(), algo, ws, bytes, &kZero,
                                            d.y.get(), y));
  }
};

struct BackwardDataPass {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr ConvPass kPass = ConvPass::BackwardData;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static bool transform(Algo a) {
    return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
  }

  const void* dy;  // [N,O,HO,WO]    float32, or 16-bit in bf16 / fp16
  const void* w;   // [O,C/G,KH,KW]
  void* dx;        // [N,C,H,W]

  static int max_count(cudnnHandle_t h) {
    int count = 0;
    GHM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &count));
    return count;
  }
  static int heuristics(cudnnHandle_t h, const ConvDescriptors& d, Perf* perf, int capacity) {
    int returned = 0;
    GHM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.get(), d.y.get(), d.conv.get(), d.x.get(),
                                                                capacity, &returned, perf));
    return returned;
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvDescriptors& d, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.get(), d.y.get(), d.conv.get(), d.x.get(), algo, bytes);
  }
  int find(cudnnHandle_t h, const ConvDescriptors& d, Perf* perf, int capacity, void* ws, std::size_t bytes) const {
    int returned = 0;
    GHM_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w.get(), w, d.y.get(), dy, d.conv.get(), d.x.get(),
                                                                dx, capacity, &returned, perf, ws, bytes));
    return returned;
  }
  void run(cudnnHandle_t h, const ConvDescriptors& d, Algo algo, void* ws, std::size_t bytes) const {
    GHM_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &kOne, d.w.get(), w, d.y.get(), dy, d.conv.get(), algo, ws, bytes,
                                                 &kZero, d.x.get(), dx));
  }
};

struct BackwardWeightPass {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr ConvPass kPass = ConvPass::BackwardWeight;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static bool transform(Algo a) {
    return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
  }

  const void* x;   // [N,C,H,W]      float32, or 16-bit in bf16 / fp16
  const void* dy;  // [N,O,HO,WO]
  void* dw;        // [O,C/G,KH,KW]

  static int max_count(cudnnHandle_t h) {
    int count = 0;
    GHM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &count));
    return count;
  }
  static int heuristics(cudnnHandle_t h, const ConvDescriptors& d, Perf* perf, int capacity) {
    int returned = 0;
    GHM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.get(), d.y.get(), d.conv.get(), d.w.get(),
                                                                  capacity, &returned, perf));
    return returned;
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvDescriptors& d, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.get(), d.y.get(), d.conv.get(), d.w.get(), algo,
                                                          bytes);
  }
  int find(cudnnHandle_t h, const ConvDescriptors& d, Perf* perf, int capacity, void* ws, std::size_t bytes) const {
    int returned = 0;
    GHM_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x.get(), x, d.y.get(), dy, d.conv.get(),
                                                                  d.w.get(), dw, capacity, &returned, perf, ws, bytes));
    return returned;
  }
  void run(cudnnHandle_t h, const ConvDescriptors& d, Algo algo, void* ws, std::size_t bytes) const {
    GHM_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &kOne, d.x.get(), x, d.y.get(), dy, d.conv.get(), algo, ws, bytes,
                                                   &kZero, d.w.get(), dw));
  }
};

// ---- choosing and running ---------------------------------------------------------------------

// The search math type (top comment, step 1); 16-bit data may use every math type.
cudnnMathType_t search_math(bool tf32, Precision math) {
  return tf32 || math != Precision::F32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

cudnnDataType_t data_type(Precision math) {
  switch (math) {
    case Precision::F32: return CUDNN_DATA_FLOAT;
    case Precision::BF16: return CUDNN_DATA_BFLOAT16;
    case Precision::F16: return CUDNN_DATA_HALF;
  }
  return CUDNN_DATA_FLOAT;
}

// Step 2 of the top comment, for the current device `device`.
std::size_t workspace_budget(int device) {
  std::size_t free_bytes = 0, total_bytes = 0;
  GHM_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const AllocatorStats stats = device_allocator(device).stats();
  return std::min(kMaxWorkspaceBytes, free_bytes + (stats.reserved_bytes - stats.allocated_bytes));
}

// Step 4 of the top comment: may this result be used?
// 16-bit data: any math type (tensor cores are the point), but no FFT or Winograd algorithm: their
// error grows with the norm of a whole tile rather than with each output's own sum of |products|,
// and in 16 bits that is visible (the per-element bounds of tests/cuda/test_cuda_precision.cpp).
template <class Pass, class Perf>
bool eligible(const Perf& perf, bool tf32, Precision math, std::size_t workspace_bytes) {
  if (perf.status != CUDNN_STATUS_SUCCESS || perf.determinism != CUDNN_DETERMINISTIC) return false;
  if (perf.memory > workspace_bytes) return false;
  if (math != Precision::F32) return !Pass::transform(perf.algo);
  return tf32 ? perf.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : perf.mathType == CUDNN_FMA_MATH;
}

template <class Perf>
Plan plan_of(const Perf& perf) {
  return {static_cast<int>(perf.algo), perf.mathType, perf.memory};
}

// Steps 2 to 4 of the top comment. `d` carries the search math type.
template <class Pass>
Plan choose_plan(cudnnHandle_t handle, const ConvDescriptors& d, const Pass& pass, bool tf32, Precision math,
                 int device) {
  const std::size_t budget = workspace_budget(device);
  std::size_t find_bytes = 0;
  for (int a = 0; a < Pass::kAlgoCount; ++a) {  // an algorithm this problem cannot use reports an error: skipped
    std::size_t bytes = 0;
    if (Pass::workspace_size(handle, d, static_cast<typename Pass::Algo>(a), &bytes) == CUDNN_STATUS_SUCCESS &&
        bytes <= budget)
      find_bytes = std::max(find_bytes, bytes);
  }
  const int capacity = std::max(Pass::max_count(handle), Pass::kAlgoCount);
  std::vector<typename Pass::Perf> perf(static_cast<std::size_t>(capacity));
  {
    Tensor workspace = workspace_tensor(find_bytes, device);
    const int found = pass.find(handle, d, perf.data(), capacity, workspace.raw_device_data(), find_bytes);
    for (int i = 0; i < found; ++i) {  // sorted by time, fastest first
      const auto& result = perf[static_cast<std::size_t>(i)];
      if (eligible<Pass>(result, tf32, math, find_bytes)) return plan_of(result);
    }
  }
  const int listed = Pass::heuristics(handle, d, perf.data(), capacity);
  for (int i = 0; i < listed; ++i) {  // in order of expected speed
    const auto& result = perf[static_cast<std::size_t>(i)];
    if (eligible<Pass>(result, tf32, math, budget)) return plan_of(result);
  }
  GHM_FAIL("no deterministic cuDNN algorithm", math != Precision::F32 ? " for 16-bit data"
                                               : tf32                     ? ""
                                                                          : " without TF32",
           " within a workspace of ", budget, " bytes");
}

// Runs one pass of a non-empty problem on the current device with its cached plan (searching
// for it on the first call).
template <class Pass>
void run_pass(const ConvGeometry& g, const Pass& pass, Precision math) {
  try {
    const int device = current_device();
    const bool tf32 = tf32_allowed();
    const PlanKey key = make_key(Pass::kPass, math, device, tf32, g);
    const cudnnHandle_t handle = cudnn_handle(device);
    ConvDescriptors d(g, search_math(tf32, math), data_type(math));
    std::optional<Plan> plan = plan_cache().find(key);
    if (!plan) {
      check_output_size(d, g);
      plan = plan_cache().insert(key, choose_plan(handle, d, pass, tf32, math, device));
    }
    d.conv.set_math_type(plan->math);
    Tensor workspace = workspace_tensor(plan->workspace_bytes, device);
    pass.run(handle, d, static_cast<typename Pass::Algo>(plan->algo), workspace.raw_device_data(),
             plan->workspace_bytes);
  } catch (const Error& e) {
    GHM_FAIL("cuDNN conv2d ", conv_pass_name(Pass::kPass), " in ", precision_name(math), " failed for ", describe(g),
             ", TF32 ", tf32_allowed() ? "on" : "off", ": ", e.what());
  }
}

// A 16-bit buffer of n elements from the caching allocator, on the current device.
Tensor low_buffer(std::int64_t n, Precision math) {
  return Tensor::empty(Shape{n * precision_bytes(math)}, DType::U8, Device::cuda(current_device()));
}

// src: [n] float32 -> a 16-bit copy in `math`.
Tensor low_copy(const float* src, std::int64_t n, Precision math) {
  Tensor t = low_buffer(n, math);
  float_to_low(src, t.raw_device_data(), n, math);
  return t;
}

// Runs `pass` on 16-bit copies of its two float32 inputs and widens its result into `out`
// (n_out elements): make(in0, in1, out) builds the pass on the 16-bit buffers.
template <class Make>
void run_low(const ConvGeometry& g, Precision math, const float* in0, std::int64_t n0, const float* in1, std::int64_t n1,
             float* out, std::int64_t n_out, const Make& make) {
  const Tensor a = low_copy(in0, n0, math), b = low_copy(in1, n1, math);
  Tensor result = low_buffer(n_out, math);
  run_pass(g, make(a.raw_device_data(), b.raw_device_data(), result.raw_device_data()), math);
  low_to_float(result.raw_device_data(), out, n_out, math);
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y,
                    ConvActivation activation, Precision math) {
  if (output_elements(g) == 0) return;
  if (input_elements(g) == 0 || weight_elements(g) == 0) {
    zero_fill(y, output_elements(g));  // no products: y is the bias alone
  } else if (math == Precision::F32) {
    run_pass(g, ForwardPass{x, weight, y}, math);
  } else {
    run_low(g, math, x, input_elements(g), weight, weight_elements(g), y, output_elements(g),
            [](const void* a, const void* b, void* out) { return ForwardPass{a, b, out}; });
  }
  if (bias == nullptr && activation == ConvActivation::None) return;
  const cudnnHandle_t handle = cudnn_handle(current_device());
  const TensorDescriptor y_desc(g.n, g.o, g.ho, g.wo);
  if (bias != nullptr) {  // y += bias[o], broadcast over n, ho, wo
    const TensorDescriptor bias_desc(1, g.o, 1, 1);
    GHM_CUDNN_CHECK(cudnnAddTensor(handle, &kOne, bias_desc.get(), bias, &kOne, y_desc.get(), y));
  }
  if (activation == ConvActivation::Relu) {  // in place: cuDNN allows x == y with identical descriptors
    const ReluDescriptor relu;
    GHM_CUDNN_CHECK(cudnnActivationForward(handle, relu.get(), &kOne, y_desc.get(), y, &kZero, y_desc.get(), y));
  }
}

void conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* weight, float* dx, Precision math) {
  if (input_elements(g) == 0) return;
  if (output_elements(g) == 0 || weight_elements(g) == 0) return zero_fill(dx, input_elements(g));
  if (math == Precision::F32) return run_pass(g, BackwardDataPass{dy, weight, dx}, math);
  run_low(g, math, dy, output_elements(g), weight, weight_elements(g), dx, input_elements(g),
          [](const void* a, const void* b, void* out) { return BackwardDataPass{a, b, out}; });
}

void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight, Precision math) {
  if (weight_elements(g) == 0) return;
  if (input_elements(g) == 0 || output_elements(g) == 0) return zero_fill(dweight, weight_elements(g));
  if (math == Precision::F32) return run_pass(g, BackwardWeightPass{x, dy, dweight}, math);
  run_low(g, math, x, input_elements(g), dy, output_elements(g), dweight, weight_elements(g),
          [](const void* a, const void* b, void* out) { return BackwardWeightPass{a, b, out}; });
}

void conv2d_backward_bias(const ConvGeometry& g, const float* dy, float* dbias) {
  if (g.o == 0) return;
  const std::int64_t hw = g.ho * g.wo;
  if (g.n * hw == 0) return zero_fill(dbias, g.o);
  if (g.n == 1) return sum_middle(dy, dbias, g.o, hw, 1);  // dy: [O, HO*WO] -> dbias: [O]
  Tensor per_image = Tensor::empty(Shape{g.n, g.o}, DType::F32, Device::cuda(current_device()));
  sum_middle(dy, per_image.device_data<float>(), g.n * g.o, hw, 1);  // dy: [N*O, HO*WO] -> [N, O]
  sum_middle(per_image.device_data<float>(), dbias, 1, g.n, g.o);    // [1, N, O] -> dbias: [O]
}

}  // namespace ghm::cuda
