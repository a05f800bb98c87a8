// `ghm_retinanet bench parse`: the JSON reader and the YAML config parser on one object (one
// mapping) of N keys, for N and 2N at each size asked for. Both must be linear in the input: the
// duplicate-key check and the object's construction are O(n) (hash set, appended members), so
// doubling the keys should about double the time; "x per doubling" = t(2N) / t(N), the issue's
// bound is 2.2.
//
//   JSON  {"k0000000": 0, "k0000001": 1, ...}       io::Json::parse
//   YAML  k0000000: 0\nk0000001: 1\n...            io::parse_yaml (to the same Json object)
//
// The text is made once per size; each timed run parses it from memory (median of `repeats`), the
// runs of N and 2N keys taking turns.
//
// Memory: glibc raises its mmap threshold after a large block is freed (up to 32 MiB), so from the
// second run on, a parse whose buffers stay under that bound reuses heap pages already mapped,
// while a larger one maps and faults in fresh pages every time; that made one doubling (100k to
// 200k keys, where the object's member array passes 32 MiB) look like 3.5x. The bench fixes the
// threshold at glibc's initial 128 KiB, so every size works as a config load in a fresh process
// does: its large buffers on fresh pages.
#include <algorithm>
#include <cstdio>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "bench/timing.h"
#include "core/check.h"
#include "io/json.h"
#include "io/output_file.h"
#include "io/yaml.h"

namespace ghm::bench {
namespace {

std::string key(std::int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "k%07lld", static_cast<long long>(i));
  return buf;
}

std::string json_object(std::int64_t n) {
  std::string s = "{";
  for (std::int64_t i = 0; i < n; ++i) s += (i ? ", \"" : "\"") + key(i) + "\": " + std::to_string(i);
  return s + "}";
}

std::string yaml_mapping(std::int64_t n) {
  std::string s;
  for (std::int64_t i = 0; i < n; ++i) s += key(i) + ": " + std::to_string(i) + "\n";
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Row {
  std::string format;
  std::int64_t keys = 0;
  double ms = 0, ms_double = 0;  // N keys, 2N keys
  double per_doubling() const { return ms > 0 ? ms_double / ms : 0; }  // 0: too fast to tell
};

}  // namespace

int run_parse_bench(const ParseBenchOptions& o) {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);  // fixed: see the top of the file
#endif
  std::vector<Row> rows;
  for (const char* format : {"json", "yaml"}) {
    const bool json = std::string(format) == "json";
    for (const std::int64_t n : o.keys) {
      const std::string text = json ? json_object(n) : yaml_mapping(n);
      const std::string text_double = json ? json_object(2 * n) : yaml_mapping(2 * n);
      const auto parse_once = [&](const std::string& t, std::int64_t k) {
        return median_ms(0, 1, [&] {
          const io::Json v = json ? io::Json::parse(t, "bench") : io::parse_yaml(t, "bench");
          GHM_CHECK(v.size() == static_cast<std::size_t>(k), "bench parse: ", v.size(), " keys parsed of ", k);
        });
      };
      // N and 2N alternate, so that a change in the machine's speed during the runs touches both.
      std::vector<double> ms, ms_double;
      for (int i = 0; i < o.warmup + o.repeats; ++i) {
        const double t = parse_once(text, n), t_double = parse_once(text_double, 2 * n);
        if (i < o.warmup) continue;
        ms.push_back(t);
        ms_double.push_back(t_double);
      }
      rows.push_back({format, n, median(ms), median(ms_double)});
    }
  }
  std::printf("bench parse: one object of N keys, then 2N; median of %d\n", o.repeats);
  std::printf("  %-6s %10s %12s %12s %14s %10s\n", "format", "N", "ms (N)", "ms (2N)", "ns per key", "x/doubling");
  for (const Row& r : rows)
    std::printf("  %-6s %10lld %12.2f %12.2f %14.1f %10.2f\n", r.format.c_str(), static_cast<long long>(r.keys), r.ms,
                r.ms_double, 1e6 * r.ms / static_cast<double>(r.keys), r.per_doubling());
  if (!o.json_out.empty()) {
    std::ostringstream js;
    js << "{\"rows\": [";
    for (std::size_t i = 0; i < rows.size(); ++i)
      js << (i ? ", " : "") << "{\"format\": \"" << rows[i].format << "\", \"keys\": " << rows[i].keys
         << ", \"ms\": " << rows[i].ms << ", \"ms_double\": " << rows[i].ms_double
         << ", \"per_doubling\": " << rows[i].per_doubling() << "}";
    js << "]}\n";
    io::write_output(o.json_out, js.str());
  }
  return 0;
}

}  // namespace ghm::bench
