// `ghm_retinanet bench parse`: the JSON reader and the YAML config parser on one object (one
// mapping) of N keys, for N and 2N at each size asked for. Both must be linear in the input: the
// duplicate-key check and the object's construction are O(n) (hash set, appended members), so
// doubling the keys should about double the time; "x per doubling" = t(2N) / t(N), the issue's
// bound is 2.2.
//
//   JSON  {"k0000000": 0, "k0000001": 1, ...}       io::Json::parse
//   YAML  k0000000: 0\nk0000001: 1\n...            io::parse_yaml (to the same Json object)
//
// The text is made once per size; each timed run parses it from memory (median of `repeats`).
#include <cstdio>
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

struct Row {
  std::string format;
  std::int64_t keys = 0;
  double ms = 0, ms_double = 0;  // N keys, 2N keys
  double per_doubling() const { return ms > 0 ? ms_double / ms : 0; }  // 0: too fast to tell
};

}  // namespace

int run_parse_bench(const ParseBenchOptions& o) {
  std::vector<Row> rows;
  for (const char* format : {"json", "yaml"}) {
    const bool json = std::string(format) == "json";
    for (const std::int64_t n : o.keys) {
      Row r{format, n};
      for (const std::int64_t k : {n, 2 * n}) {
        const std::string text = json ? json_object(k) : yaml_mapping(k);
        const double ms = median_ms(o.warmup, o.repeats, [&] {
          const io::Json v = json ? io::Json::parse(text, "bench") : io::parse_yaml(text, "bench");
          GHM_CHECK(v.size() == static_cast<std::size_t>(k), "bench parse: ", v.size(), " keys parsed of ", k);
        });
        (k == n ? r.ms : r.ms_double) = ms;
      }
      rows.push_back(r);
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
