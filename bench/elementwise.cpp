// `ghm_retinanet bench elementwise`: the memory bandwidth of the elementwise and reduction kernels
// against a plain copy of the same size on the same device (cudaMemcpy device to device on CUDA,
// memcpy through Tensor::clone on the CPU). Elementwise kernels are bound by memory traffic, so
// the useful figure is the share of the copy's bandwidth each reaches:
//
//   bytes moved: copy 2 * 4n (read + write), unary 2 * 4n, binary 3 * 4n, broadcast row add
//   4n + 4n + 4 * cols, relu forward + backward 5 * 4n, sum 4n (+ a few partials)
//   GB/s = bytes / median time
#include <algorithm>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "bench/timing.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/runtime_info.h"
#include "io/output_file.h"

namespace ghm::bench {
namespace {

struct Row {
  std::string name;
  double bytes = 0, ms = 0;
  double gbps() const { return bytes / (ms * 1e6); }
};

}  // namespace

int run_elementwise_bench(const ElementwiseBenchOptions& o) {
  const Device device = o.device;
  const int warmup = o.warmup, repeats = o.repeats;
  std::int64_t n = o.elements > 0 ? o.elements : device.is_cuda() ? (std::int64_t{1} << 26) : (std::int64_t{1} << 24);
  const std::int64_t cols = 1024, rows = (n + cols - 1) / cols;
  n = rows * cols;

  Generator gen(1);
  const Tensor a = Tensor::normal(Shape{rows, cols}, 0, 1, gen).to(device);
  const Tensor b = Tensor::normal(Shape{rows, cols}, 0, 1, gen).to(device);
  const Tensor row = Tensor::normal(Shape{cols}, 0, 1, gen).to(device);
  const double f = 4.0 * static_cast<double>(n);

  auto timed = [&](const std::string& name, double bytes, const std::function<Tensor()>& fn) {
    Row r{name, bytes, 0};
    r.ms = median_ms(warmup, repeats, [&] {
      const Tensor out = fn();
      synchronize(device);
    });
    return r;
  };
  std::vector<Row> rows_out;
  rows_out.push_back(timed("copy", 2 * f, [&] { return a.clone(); }));
  rows_out.push_back(timed("add", 3 * f, [&] { return add(a, b); }));
  rows_out.push_back(timed("mul", 3 * f, [&] { return mul(a, b); }));
  rows_out.push_back(timed("add (row broadcast)", 2 * f + 4.0 * cols, [&] { return add(a, row); }));
  rows_out.push_back(timed("relu", 2 * f, [&] { return relu(a); }));
  rows_out.push_back(timed("sigmoid", 2 * f, [&] { return sigmoid(a); }));
  rows_out.push_back(timed("exp", 2 * f, [&] { return exp(a); }));
  {
    Tensor x = a.detach().clone();
    x.set_requires_grad(true);
    // forward (read x, write y) then backward (read the upstream gradient and y, write dx): 5 * 4n
    rows_out.push_back(timed("relu forward+backward", 5 * f, [&] {
      x.zero_grad();
      relu(x).backward(b);
      return x.grad();
    }));
  }
  rows_out.push_back(timed("sum", f, [&] { return sum(a); }));

  const double copy_gbps = rows_out.front().gbps();
  std::printf("bench elementwise: %lld floats (%.0f MiB per tensor) on %s, median of %d\n",
              static_cast<long long>(n), f / 1048576.0, device.to_string().c_str(), repeats);
  std::printf("  %-22s %10s %10s %12s\n", "kernel", "ms", "GB/s", "of copy");
  for (const Row& r : rows_out)
    std::printf("  %-22s %10.3f %10.1f %11.0f%%\n", r.name.c_str(), r.ms, r.gbps(), 100.0 * r.gbps() / copy_gbps);
  if (!o.json_out.empty()) {
    std::ostringstream js;
    js << "{\"device\": \"" << device.to_string() << "\", \"elements\": " << n << ", \"rows\": [";
    for (std::size_t i = 0; i < rows_out.size(); ++i)
      js << (i ? ", " : "") << "{\"name\": \"" << rows_out[i].name << "\", \"ms\": " << rows_out[i].ms
         << ", \"gbps\": " << rows_out[i].gbps() << ", \"of_copy\": " << rows_out[i].gbps() / copy_gbps << "}";
    js << "]}\n";
    io::write_output(o.json_out, js.str());
  }
  return 0;
}

}  // namespace ghm::bench
