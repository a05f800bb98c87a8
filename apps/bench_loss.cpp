// `ghm_retinanet bench loss`: loss + gradient time of our fused losses at RetinaNet sizes, with
// the same rows and inputs as bench/torch_losses.py (row names bce, ghmc, focal, ghmr; PyTorch's
// script times the reference GHM algorithm as ghmc_reference / ghmr_reference).
//
// Inputs (seeded): logits ~ N(-4, 2) (near the prior -log(99)), 1% of rows carry a random class,
// 10% of rows are ignored (label weight 0); GHM-R on N/50 positive rows x 4 deltas ~ N(0, 0.5).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/bench_timing.h"
#include "apps/commands.h"
#include "core/autograd.h"
#include "core/random.h"
#include "losses/baselines.h"
#include "losses/ghm_c.h"
#include "losses/ghm_r.h"

namespace ghm::app {
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

}  // namespace

int bench_loss(const std::vector<std::string>& args) {
  std::vector<int> threads_list = {1, 2};
  std::vector<std::int64_t> sizes = {240000, 100000};
  int warmup = 1, repeats = 5;
  const std::int64_t k = 80;
  std::string json_path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw UsageError("bench loss: option " + a + " needs a value");
      return args[++i];
    };
    if (a == "--threads") threads_list = {std::stoi(value())};
    else if (a == "--size") sizes = {std::stoll(value())};
    else if (a == "--warmup") warmup = std::stoi(value());
    else if (a == "--repeats") repeats = std::stoi(value());
    else if (a == "--json") json_path = value();
    else if (a == "--help") {
      std::printf("usage: ghm_retinanet bench loss [--threads T] [--size N] [--warmup W] [--repeats R] [--json OUT]\n"
                  "  N x 80 logits; default: N in {240000, 100000}, T in {1, 2}\n");
      return 0;
    } else throw UsageError("bench loss: unknown option '" + a + "'");
  }
  if (repeats < 1 || warmup < 0) throw UsageError("bench loss: --repeats must be >= 1");
  std::printf("ghm_retinanet losses (fused loss + gradient), warm-up %d, median of %d\n", warmup, repeats);
  std::printf("%-16s %12s %8s %10s\n", "task", "N x K", "threads", "ms");
  std::ostringstream json;
  json << "{\"rows\": [";
  bool first = true;
  for (const std::int64_t n : sizes) {
    Generator gen(7);
    const ClassInputs c = make_class_inputs(n, k, gen);
    const std::int64_t n_pos = n / 50;
    const Tensor box_pred = Tensor::normal(Shape{n_pos, 4}, 0.0f, 0.5f, gen);
    const Tensor box_target = Tensor::normal(Shape{n_pos, 4}, 0.0f, 0.5f, gen);
    const Tensor box_weight = Tensor::ones(Shape{n_pos, 4});
    Tensor pred = c.pred.clone();
    pred.set_requires_grad(true);
    Tensor bpred = box_pred.clone();
    bpred.set_requires_grad(true);
    losses::GhmEmaState ghmc_state(30), ghmr_state(10);
    const double num_pos = std::max<double>(1.0, static_cast<double>(n) * 0.01);
    for (const int threads : threads_list) {
      omp_set_num_threads(threads);
      auto row = [&](const char* task, std::int64_t rows, std::int64_t cols, double ms) {
        std::printf("%-16s %12s %8d %10.2f\n", task, (std::to_string(rows) + "x" + std::to_string(cols)).c_str(),
                    threads, ms);
        std::fflush(stdout);
        json << (first ? "" : ", ") << "{\"task\": \"" << task << "\", \"n\": " << rows << ", \"k\": " << cols
             << ", \"threads\": " << threads << ", \"ms\": " << ms << "}";
        first = false;
      };
      row("bce", n, k, median_ms(warmup, repeats, [&] {
            pred.zero_grad();
            losses::bce_with_logits_loss(pred, c.labels, c.label_weight, 1.0).backward();
          }));
      row("ghmc", n, k, median_ms(warmup, repeats, [&] {
            pred.zero_grad();
            losses::ghm_c_loss(pred, c.labels, c.label_weight, {30, 0.75, 1.0f}, ghmc_state).backward();
          }));
      row("focal", n, k, median_ms(warmup, repeats, [&] {
            pred.zero_grad();
            losses::sigmoid_focal_loss(pred, c.labels, c.label_weight, num_pos).backward();
          }));
      row("ghmr", n_pos, 4, median_ms(warmup, repeats, [&] {
            bpred.zero_grad();
            losses::ghm_r_loss(bpred, box_target, box_weight, {0.02f, 10, 0.7, 10.0f}, ghmr_state).backward();
          }));
    }
  }
  json << "]}\n";
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    GHM_CHECK(out.good(), "bench loss: cannot write '", json_path, "'");
    out << json.str();
  }
  return 0;
}

}  // namespace ghm::app
