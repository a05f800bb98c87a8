// `ghm_retinanet bench loss`: loss + gradient time of our fused losses at RetinaNet sizes, with
// the same rows and inputs as bench/torch_losses.py (row names bce, ghmc, focal, ghmr; PyTorch's
// script times the reference GHM algorithm as ghmc_reference / ghmr_reference).
//
// Inputs (seeded): logits ~ N(-4, 2) (near the prior -log(99)), 1% of rows carry a random class,
// 10% of rows are ignored (label weight 0); GHM-R on N/50 positive rows x 4 deltas ~ N(0, 0.5).
//
// --device cuda (or cuda:I) runs the same rows on that GPU, the device synchronised after each
// run (so a time covers all queued work). GB/s is the bytes the passes must move (bytes_moved)
// over that time: on a GPU, compare it with the device's copy bandwidth.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "bench/timing.h"
#include "core/autograd.h"
#include "core/random.h"
#include "core/runtime_info.h"
#include "io/output_file.h"
#include "losses/baselines.h"
#include "losses/ghm_c.h"
#include "losses/ghm_r.h"

namespace ghm::bench {
namespace {

struct ClassInputs {
  Tensor pred, labels, label_weight;
};

ClassInputs make_class_inputs(std::int64_t n, std::int64_t k, Generator& gen) {
  ClassInputs in{Tensor::normal(Shape{n, k}, -4.0f, 2.0f, gen), Tensor::empty(Shape{n}, DType::I64),
                 Tensor::empty(Shape{n})};
  for (std::int64_t i = 0; i < n; ++i) {
    const float u = gen.uniform();
    in.labels.data<std::int64_t>()[i] = u < 0.01f ? static_cast<std::int64_t>(gen.next_u64() % k) : k;
    in.label_weight.data<float>()[i] = gen.uniform() < 0.1f ? 0.0f : 1.0f;
  }
  return in;
}

// The bytes a fused loss + backward must read and write at least, for N rows of K columns: the
// inputs once per pass that reads them, labels (i64) and row weights (f32) once per row, the
// outputs once. bce/focal: one pass (x in, grad out); ghmc: pass 1 (x in, a bin byte out) and
// pass 3 (x and the byte in, grad out); ghmr (pred, target, weight [N, 4]): the same two passes.
// On a GPU the backward reads the stored gradient and writes dL/dx (the upstream gradient is read
// there); on the CPU an upstream gradient of 1 hands the stored gradient back as it is.
double bytes_moved(const std::string& task, std::int64_t rows, std::int64_t cols, bool backward_pass) {
  const auto e = static_cast<double>(rows * cols), n = static_cast<double>(rows);
  const double backward = backward_pass ? 8 * e : 0.0;
  if (task == "ghmc") return (4 * e + 12 * n + e) + (4 * e + 12 * n + e + 4 * e) + backward;
  if (task == "ghmr") return (12 * e + e) + (12 * e + e + 4 * e) + backward;
  return (4 * e + 12 * n + 4 * e) + backward;  // bce, focal
}

}  // namespace

int run_loss_bench(const LossBenchOptions& o) {
  const Device device = o.device;
  const int warmup = o.warmup, repeats = o.repeats;
  const std::int64_t k = 80;
  const std::vector<int> threads_list = device.is_cuda() ? std::vector<int>{omp_get_max_threads()} : o.threads;
  std::printf("ghm_retinanet losses (fused loss + gradient) on %s, warm-up %d, median of %d\n",
              device.to_string().c_str(), warmup, repeats);
  std::printf("%-16s %12s %8s %10s %10s\n", "task", "N x K", "threads", "ms", "GB/s");
  std::ostringstream json;
  json << "{\"rows\": [";
  bool first = true;
  for (const std::int64_t n : o.sizes) {
    Generator gen(7);
    ClassInputs c = make_class_inputs(n, k, gen);
    c = {c.pred.to(device), c.labels.to(device), c.label_weight.to(device)};
    const std::int64_t n_pos = n / 50;
    const Tensor box_pred = Tensor::normal(Shape{n_pos, 4}, 0.0f, 0.5f, gen).to(device);
    const Tensor box_target = Tensor::normal(Shape{n_pos, 4}, 0.0f, 0.5f, gen).to(device);
    const Tensor box_weight = Tensor::ones(Shape{n_pos, 4}, DType::F32, device);
    Tensor pred = c.pred.detach().clone();
    pred.set_requires_grad(true);
    Tensor bpred = box_pred.detach().clone();
    bpred.set_requires_grad(true);
    const losses::GhmSettings ghmc = losses::GhmSettings::classification(30, 0.75, 1.0f);
    const losses::GhmSettings ghmr = losses::GhmSettings::regression(0.02f, 10, 0.7, 10.0f);
    losses::GhmEmaState ghmc_state(ghmc.bins()), ghmr_state(ghmr.bins());
    const Tensor one = Tensor::ones(Shape{}, DType::F32, device);  // the upstream gradient, made once
    const double num_pos = std::max<double>(1.0, static_cast<double>(n) * 0.01);
    for (const int threads : threads_list) {
      omp_set_num_threads(threads);
      auto row = [&](const char* task, std::int64_t rows, std::int64_t cols, double ms) {
        const double gbps = bytes_moved(task, rows, cols, device.is_cuda()) / (ms * 1e-3) / 1e9;
        std::printf("%-16s %12s %8d %10.3f %10.1f\n", task, (std::to_string(rows) + "x" + std::to_string(cols)).c_str(),
                    threads, ms, gbps);
        std::fflush(stdout);
        json << (first ? "" : ", ") << "{\"task\": \"" << task << "\", \"device\": \"" << device.to_string()
             << "\", \"n\": " << rows << ", \"k\": " << cols << ", \"threads\": " << threads << ", \"ms\": " << ms
             << ", \"gbps\": " << gbps << "}";
        first = false;
      };
      row("bce", n, k, median_ms(warmup, repeats, [&] {
            pred.zero_grad();
            losses::bce_with_logits_loss(pred, c.labels, c.label_weight, 1.0).backward(one);
            synchronize(device);
          }));
      row("ghmc", n, k, median_ms(warmup, repeats, [&] {
            pred.zero_grad();
            losses::ghm_c_loss(pred, c.labels, c.label_weight, ghmc, ghmc_state).backward(one);
            synchronize(device);
          }));
      row("focal", n, k, median_ms(warmup, repeats, [&] {
            pred.zero_grad();
            losses::sigmoid_focal_loss(pred, c.labels, c.label_weight, num_pos).backward(one);
            synchronize(device);
          }));
      row("ghmr", n_pos, 4, median_ms(warmup, repeats, [&] {
            bpred.zero_grad();
            losses::ghm_r_loss(bpred, box_target, box_weight, ghmr, ghmr_state).backward(one);
            synchronize(device);
          }));
    }
  }
  json << "]}\n";
  if (!o.json_out.empty()) {
    io::write_output(o.json_out, json.str());
  }
  return 0;
}

}  // namespace ghm::bench
