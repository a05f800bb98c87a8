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
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "apps/commands.h"
#include "engine/config.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/runtime_info.h"

namespace ghm::app {
using namespace ghm::engine;  // a command is a thin layer over the engine
namespace {

const char* kUsage =
    "usage: ghm_retinanet bench elementwise [--device cpu|cuda[:I]] [--elements N] [--warmup W]\n"
    "                                       [--repeats R] [--json OUT]\n"
    "  GB/s of add, mul, broadcast add, relu, sigmoid, exp, relu forward+backward and sum over N floats\n"
    "  (default 2^26 on CUDA, 2^24 on the CPU), each next to the copy bandwidth of the device.\n"
    "  Median of R runs (default 20) after W warm-up runs (default 3).\n";

struct Row {
  std::string name;
  double bytes = 0, ms = 0;
  double gbps() const { return bytes / (ms * 1e6); }
};

}  // namespace

int bench_elementwise(const std::vector<std::string>& args) {
  std::string device_text = "cpu", json_path;
  std::int64_t n = 0;
  int warmup = 3, repeats = 20;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (i + 1 >= args.size()) throw UsageError("bench elementwise: option '" + a + "' needs a value (or is unknown)");
    const std::string& v = args[++i];
    try {
      if (a == "--device") device_text = v;
      else if (a == "--elements") n = std::stoll(v);
      else if (a == "--warmup") warmup = std::stoi(v);
      else if (a == "--repeats") repeats = std::stoi(v);
      else if (a == "--json") json_path = v;
      else throw UsageError("bench elementwise: unknown option '" + a + "'");
    } catch (const std::logic_error& e) {
      if (dynamic_cast<const UsageError*>(&e) != nullptr) throw;
      throw UsageError("bench elementwise: option '" + a + "' needs a number, got '" + v + "'");
    }
  }
  if (repeats < 1 || warmup < 0 || n < 0) throw UsageError("bench elementwise: --repeats >= 1, --warmup >= 0, --elements >= 1");
  const Device device = parse_device(device_text, "bench elementwise --device");
  if (n == 0) n = device.is_cuda() ? (std::int64_t{1} << 26) : (std::int64_t{1} << 24);
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
  if (!json_path.empty()) {
    std::ostringstream js;
    js << "{\"device\": \"" << device.to_string() << "\", \"elements\": " << n << ", \"rows\": [";
    for (std::size_t i = 0; i < rows_out.size(); ++i)
      js << (i ? ", " : "") << "{\"name\": \"" << rows_out[i].name << "\", \"ms\": " << rows_out[i].ms
         << ", \"gbps\": " << rows_out[i].gbps() << ", \"of_copy\": " << rows_out[i].gbps() / copy_gbps << "}";
    js << "]}\n";
    std::ofstream out(json_path);
    out << js.str();
    GHM_CHECK(out.good(), "bench elementwise: cannot write '", json_path, "'");
  }
  return 0;
}

}  // namespace ghm::app
