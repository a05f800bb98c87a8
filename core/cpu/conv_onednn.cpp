// 2-D convolution on the CPU through oneDNN (2.6 API): forward, backward-data and backward-weight
// with the bias gradient fused, each one oneDNN convolution primitive between reorders of the
// caller's dense buffers. Letters as in conv_onednn.h; sh, sw strides, ph, pw padding, dh, dw dilation.
//
//   y[n,o,oh,ow] = b[o] + sum_{c in group(o), i, j} W[o,c,i,j] x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
//   dx = the transpose of that map applied to dy                                   (backward data)
//   dW[o,c,i,j] = sum_{n,oh,ow} dy[n,o,oh,ow] x[n, c, ...]    db[o] = sum_{n,oh,ow} dy[n,o,oh,ow]
//                                               (backward weights: one primitive writes dW and db)
// oneDNN takes the dilation minus one (0 = dense) and padding per side; right = left, as in PyTorch
// (the output size rounds down, and oneDNN's size check does the same).
//
// Layouts, and what was measured to choose them (bench ops on the RetinaNet R50-FPN set, 2 threads,
// AVX-512 machine; count-weighted totals, forward / backward ms; run-to-run noise is about 4%):
//   format_tag::any everywhere        549 / 1246   oneDNN picks 16-channel blocks (nChw16c activations,
//                                                  OIhw16i16o-like weights) and its direct JIT kernels
//   plain nchw/oihw everywhere        607 / 1665   oneDNN falls back to im2col + its own GEMM
//   any, but plain for 1x1 kernels    543 / 1248   the rule used here
// With `any`, an input whose chosen format differs from NCHW/OIHW is reordered into the workspace,
// and the output is computed there and reordered back: two extra passes over the activations. For
// 3x3 and 7x7 kernels the blocked kernels win by far despite that (P3 towers, backward: 42 vs 63 ms
// plain). A 1x1 convolution on NCHW is one GEMM per image, W[O,C] x[C,HO*WO], which oneDNN runs on
// the caller's buffers (gemm:jit) with no reorder at all; doing 1/9 of a 3x3's arithmetic per element
// moved, it gains most from skipping the reorders: the 39 1x1 convs take 123-127 ms forward plain vs
// 138-142 ms blocked (256->64 at 128x128: 2.8 vs 5.6 ms), and backward is a tie (302-310 ms either
// way). So 1x1 kernels use plain formats and everything else `any`. Weights are reordered on every
// call (they change every step; that reorder costs 0.5-2% of the convolution).
//
// bf16 (the `math` argument): the operands a pass reads are converted to bf16 by the reorders that
// already bring them into the primitive's layout (a plain-to-plain reorder for 1x1 kernels), so
// rounding costs no pass of its own for 3x3 kernels; the written operand stays float32. On the same
// set, bf16 on AVX-512 BF16 (vdpbf16ps: two products per lane per instruction) took 1.85x less time
// forward and 1.9x backward than float32, 3x3 kernels about 2x. For 1x1 kernels the forward stays
// plain (a 1x1 forward reads each element once; blocking costs two reorders more), while blocked
// backward passes won: the layer1 1x1 convs' backward 48 vs 90 ms blocked vs plain (plain bf16 was
// slower than float32 there: oneDNN's bf16 GEMM path has no in-place NCHW transpose).
//
// Caching: building a primitive descriptor lets oneDNN pick an implementation and JIT-compile it
// (milliseconds), so each (pass, geometry, bias, thread count) gets a Plan once, kept in a
// mutex-guarded map: the primitive, the reorder primitives, the memory descriptors and the
// workspace layout. The thread count is in the key because oneDNN's kernels partition the work for
// the thread count they were created under. Plans are never evicted (a training run sees a fixed set
// of geometries; every new input size adds its own). Executing a Plan needs no lock: primitives are
// immutable and may run concurrently from several threads, each with its own workspace.
//
// Workspace: scratchpad_mode::user, so neither the primitives nor the reorders allocate. One
// per-thread 64-byte-aligned buffer, grown to the largest Plan and then reused, holds the reordered
// copies of the operands followed by the scratchpad, which the conv and its reorders share (they run
// one after another).
//
// Threads: libdnnl is built on the OpenMP runtime (libgomp, as this project), so the
// omp_set_num_threads setting governs both. Every oneDNN failure (dnnl::error) is rethrown as a
// ghm::Error naming the pass, the geometry and oneDNN's status.
#include "core/cpu/conv_onednn.h"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <oneapi/dnnl/dnnl_debug.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/check.h"

namespace ghm::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

enum class Layout { Plain, Chosen };  // the caller's NCHW/OIHW, or what oneDNN picks (format_tag::any)
enum class Flow { In, Out };          // an operand read by the primitive, or written by it

[[noreturn]] void fail(ConvPass pass, Precision math, const ConvGeometry& g, const dnnl::error& e) {
  GHM_FAIL("oneDNN conv2d ", conv_pass_name(pass), math == Precision::F32 ? "" : " (bf16)", " failed for ",
           describe(g), ": status ", dnnl_status2str(e.status), " (", e.what(), ")");
}

// 1x1 kernels run as GEMMs on NCHW, larger kernels on oneDNN's blocked formats; in bf16 the 1x1
// backward passes too run blocked (top comment).
Layout layout_for(const ConvGeometry& g, ConvPass pass, Precision math) {
  const bool one_by_one = g.kh == 1 && g.kw == 1;
  return one_by_one && (math == Precision::F32 || pass == ConvPass::Forward) ? Layout::Plain : Layout::Chosen;
}

struct Device {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

Device& device() {
  static Device d;
  return d;
}

constexpr std::size_t kAlign = 64;

std::size_t round_up(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Per-thread, grows to the largest request and keeps it: no allocation per call once warm.
std::byte* workspace(std::size_t bytes) {
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<std::byte[], Free> buffer;
  thread_local std::size_t capacity = 0;
  if (bytes > capacity) {
    buffer.reset(static_cast<std::byte*>(std::aligned_alloc(kAlign, round_up(bytes))));
    GHM_CHECK(buffer != nullptr, "oneDNN conv2d: cannot allocate a ", bytes, "-byte workspace");
    capacity = bytes;
  }
  return buffer.get();
}

struct PlanKey {
  ConvPass pass;
  Precision math;
  std::int64_t n, c, h, w, o, kh, kw;
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
  bool bias;
  bool relu;  // forward only: y = max(conv + bias, 0) as a oneDNN post-op
  int threads;
  auto operator<=>(const PlanKey&) const = default;
};

// One tensor argument of the primitive. `user` is the caller's dense layout, `inner` the one the
// primitive runs on; when they differ, `reorder` converts user -> inner (Flow::In) or inner -> user
// (Flow::Out) through the workspace region at `offset`.
struct Operand {
  int arg = 0;
  memory::desc user, inner;
  std::optional<dnnl::reorder> reorder;
  memory::desc reorder_scratchpad;
  std::size_t offset = 0;
};

struct Plan {
  dnnl::primitive conv;
  Operand in0, in1, out;  // forward: x, W -> y;  backward data: dy, W -> dx;  backward weight: x, dy -> dW
  int bias_arg = 0;       // DNNL_ARG_BIAS (read) or DNNL_ARG_DIFF_BIAS (written); always dense [O]
  memory::desc bias;
  memory::desc scratchpad;
  std::size_t scratchpad_offset = 0;
  std::size_t workspace_bytes = 0;
};

using Type = memory::data_type;

memory::desc activation_md(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, Layout layout,
                           Type type = Type::f32) {
  return memory::desc({n, c, h, w}, type, layout == Layout::Plain ? Tag::nchw : Tag::any);
}

// [O, C/G, KH, KW], or [G, O/G, C/G, KH, KW] with groups: the same bytes.
memory::desc weight_md(const ConvGeometry& g, Layout layout, Type type = Type::f32) {
  const std::int64_t G = g.p.groups;
  const bool plain = layout == Layout::Plain;
  if (G == 1) return memory::desc({g.o, g.c, g.kh, g.kw}, type, plain ? Tag::oihw : Tag::any);
  return memory::desc({G, g.o / G, g.c / G, g.kh, g.kw}, type, plain ? Tag::goihw : Tag::any);
}

// The element type of each operand inside the primitive. In bf16 the two operands a pass reads
// are bf16 (their reorder from the caller's float32 buffer rounds them) and the one it writes is
// float32 (oneDNN accumulates in float32 and stores that): forward x, W; backward-data dy, W;
// backward-weight x, dy.
struct Types {
  Type x = Type::f32, w = Type::f32, y = Type::f32;
};

Types types_for(ConvPass pass, Precision math) {
  if (math == Precision::F32) return {};
  GHM_CHECK(math == Precision::BF16, "oneDNN conv2d: precision ", precision_name(math),
            " is not available on the CPU (fp16 runs on CUDA only)");
  constexpr Type bf = Type::bf16, f = Type::f32;
  switch (pass) {
    case ConvPass::Forward: return {bf, bf, f};
    case ConvPass::BackwardData: return {f, bf, bf};
    case ConvPass::BackwardWeight: return {bf, f, bf};
  }
  return {};
}

struct ConvDescs {
  memory::desc x, w, y, b;  // b is the empty descriptor (no bias term) when the conv has no bias
  memory::dims strides, dilates, pad_l, pad_r;
};

ConvDescs conv_descs(const ConvGeometry& g, bool bias, Layout layout, Types t = {}) {
  const Conv2dParams& p = g.p;
  return {activation_md(g.n, g.c, g.h, g.w, layout, t.x),
          weight_md(g, layout, t.w),
          activation_md(g.n, g.o, g.ho, g.wo, layout, t.y),
          bias ? memory::desc({g.o}, Type::f32, Tag::x) : memory::desc(),
          {p.stride_h, p.stride_w},
          {p.dilation_h - 1, p.dilation_w - 1},
          {p.pad_h, p.pad_w},
          {p.pad_h, p.pad_w}};
}

// Also the hint the backward descriptors need (it steers them to formats matching the forward).
dnnl::convolution_forward::primitive_desc forward_pd(const ConvGeometry& g, bool bias, Layout layout,
                                                     const dnnl::primitive_attr& attr, Types t) {
  const ConvDescs d = conv_descs(g, bias, layout, t);
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             d.x, d.w, d.b, d.y, d.strides, d.dilates, d.pad_l, d.pad_r);
  return {desc, attr, device().engine};
}

// `cursor` is the next free workspace offset; a reordered operand takes its copy from there.
Operand make_operand(int arg, const memory::desc& user, const memory::desc& inner, Flow flow,
                     const dnnl::primitive_attr& attr, std::size_t& cursor) {
  Operand op;
  op.arg = arg;
  op.user = user;
  op.inner = inner;
  if (user != inner) {
    const memory::desc& from = flow == Flow::In ? user : inner;
    const memory::desc& to = flow == Flow::In ? inner : user;
    const dnnl::reorder::primitive_desc pd(device().engine, from, device().engine, to, attr);
    op.reorder = dnnl::reorder(pd);
    op.reorder_scratchpad = pd.scratchpad_desc();
    op.offset = cursor;
    cursor += round_up(inner.get_size());
  }
  return op;
}

Plan make_plan(ConvPass pass, const ConvGeometry& g, bool bias, bool relu, Precision math) {
  const Layout layout = layout_for(g, pass, math);
  const Types types = types_for(pass, math);
  // The hint for the backward descriptors: the forward in the same precision.
  const Types hint = types_for(ConvPass::Forward, math);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  // A separate object (copies of a dnnl handle share one attribute): the reorders must not get
  // the post-op.
  dnnl::primitive_attr conv_attr;
  conv_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    conv_attr.set_post_ops(ops);
  }
  const memory::desc x_user = activation_md(g.n, g.c, g.h, g.w, Layout::Plain);
  const memory::desc y_user = activation_md(g.n, g.o, g.ho, g.wo, Layout::Plain);
  const memory::desc w_user = weight_md(g, Layout::Plain);
  const dnnl::engine& engine = device().engine;
  Plan plan;
  std::size_t cursor = 0;
  switch (pass) {
    case ConvPass::Forward: {
      const auto pd = forward_pd(g, bias, layout, conv_attr, types);
      plan.conv = dnnl::convolution_forward(pd);
      plan.in0 = make_operand(DNNL_ARG_SRC, x_user, pd.src_desc(), Flow::In, attr, cursor);
      plan.in1 = make_operand(DNNL_ARG_WEIGHTS, w_user, pd.weights_desc(), Flow::In, attr, cursor);
      plan.out = make_operand(DNNL_ARG_DST, y_user, pd.dst_desc(), Flow::Out, attr, cursor);
      plan.bias_arg = DNNL_ARG_BIAS;
      plan.bias = pd.bias_desc();
      plan.scratchpad = pd.scratchpad_desc();
      break;
    }
    case ConvPass::BackwardData: {
      const ConvDescs d = conv_descs(g, false, layout, types);
      const dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.x, d.w, d.y, d.strides,
                                                       d.dilates, d.pad_l, d.pad_r);
      const dnnl::convolution_backward_data::primitive_desc pd(desc, attr, engine,
                                                               forward_pd(g, false, layout, {}, hint));
      plan.conv = dnnl::convolution_backward_data(pd);
      plan.in0 = make_operand(DNNL_ARG_DIFF_DST, y_user, pd.diff_dst_desc(), Flow::In, attr, cursor);
      plan.in1 = make_operand(DNNL_ARG_WEIGHTS, w_user, pd.weights_desc(), Flow::In, attr, cursor);
      plan.out = make_operand(DNNL_ARG_DIFF_SRC, x_user, pd.diff_src_desc(), Flow::Out, attr, cursor);
      plan.scratchpad = pd.scratchpad_desc();
      break;
    }
    case ConvPass::BackwardWeight: {
      const ConvDescs d = conv_descs(g, bias, layout, types);
      const dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, d.x, d.w, d.b, d.y,
                                                          d.strides, d.dilates, d.pad_l, d.pad_r);
      const dnnl::convolution_backward_weights::primitive_desc pd(desc, attr, engine,
                                                                  forward_pd(g, bias, layout, {}, hint));
      plan.conv = dnnl::convolution_backward_weights(pd);
      plan.in0 = make_operand(DNNL_ARG_SRC, x_user, pd.src_desc(), Flow::In, attr, cursor);
      plan.in1 = make_operand(DNNL_ARG_DIFF_DST, y_user, pd.diff_dst_desc(), Flow::In, attr, cursor);
      plan.out = make_operand(DNNL_ARG_DIFF_WEIGHTS, w_user, pd.diff_weights_desc(), Flow::Out, attr, cursor);
      plan.bias_arg = DNNL_ARG_DIFF_BIAS;
      plan.bias = pd.diff_bias_desc();
      plan.scratchpad = pd.scratchpad_desc();
      break;
    }
  }
  std::size_t scratch = plan.scratchpad.get_size();
  for (const Operand* op : {&plan.in0, &plan.in1, &plan.out})
    scratch = std::max(scratch, op->reorder_scratchpad.get_size());
  plan.scratchpad_offset = cursor;
  plan.workspace_bytes = cursor + round_up(scratch);
  return plan;
}

const Plan& plan_for(ConvPass pass, Precision math, const ConvGeometry& g, bool bias, bool relu = false) {
  static std::mutex mutex;
  static std::map<PlanKey, Plan> plans;  // nodes never move or go away: references stay valid
  const Conv2dParams& p = g.p;
  const PlanKey key{pass,       math,       g.n,        g.c,     g.h,     g.w,          g.o,          g.kh,     g.kw,
                    p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups, bias,
                    relu,       omp_get_max_threads()};
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(key);
  if (it == plans.end()) it = plans.emplace(key, make_plan(pass, g, bias, relu, math)).first;
  return it->second;
}

// oneDNN memory objects take a non-const handle; the inputs are only read through them.
memory bind(const memory::desc& md, const void* data) { return memory(md, device().engine, const_cast<void*>(data)); }

void run_reorder(const Operand& op, const memory& from, const memory& to, void* scratch) {
  std::unordered_map<int, memory> args{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  if (op.reorder_scratchpad.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, bind(op.reorder_scratchpad, scratch));
  op.reorder->execute(device().stream, args);
}

// in0, in1, out: the dense buffers of plan.in0, in1, out; bias: [O] or null.
void execute(const Plan& plan, const void* in0, const void* in1, void* out, void* bias) {
  std::byte* ws = workspace(plan.workspace_bytes);
  void* scratch = ws + plan.scratchpad_offset;
  std::unordered_map<int, memory> args;
  for (const auto& [op, data] : {std::pair{&plan.in0, in0}, std::pair{&plan.in1, in1}}) {
    const memory user = bind(op->user, data);
    if (!op->reorder) {
      args.emplace(op->arg, user);
      continue;
    }
    const memory inner = bind(op->inner, ws + op->offset);
    run_reorder(*op, user, inner, scratch);
    args.emplace(op->arg, inner);
  }
  const memory out_user = bind(plan.out.user, out);
  const memory out_inner = plan.out.reorder ? bind(plan.out.inner, ws + plan.out.offset) : out_user;
  args.emplace(plan.out.arg, out_inner);
  if (bias != nullptr) args.emplace(plan.bias_arg, bind(plan.bias, bias));
  if (plan.scratchpad.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, bind(plan.scratchpad, scratch));
  plan.conv.execute(device().stream, args);
  if (plan.out.reorder) run_reorder(plan.out, out_inner, out_user, scratch);
  device().stream.wait();
}

}  // namespace

void onednn_conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y,
                           bool relu, Precision math) {
  try {
    execute(plan_for(ConvPass::Forward, math, g, bias != nullptr, relu), x, weight, y, const_cast<float*>(bias));
  } catch (const dnnl::error& e) {
    fail(ConvPass::Forward, math, g, e);
  }
}

void onednn_conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* weight, float* dx,
                                 Precision math) {
  try {
    execute(plan_for(ConvPass::BackwardData, math, g, false), dy, weight, dx, nullptr);
  } catch (const dnnl::error& e) {
    fail(ConvPass::BackwardData, math, g, e);
  }
}

void onednn_conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight,
                                   float* dbias, Precision math) {
  try {
    execute(plan_for(ConvPass::BackwardWeight, math, g, dbias != nullptr), x, dy, dweight, dbias);
  } catch (const dnnl::error& e) {
    fail(ConvPass::BackwardWeight, math, g, e);
  }
}

}  // namespace ghm::cpu
