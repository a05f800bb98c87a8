// Inputs that sit on the GHM bin edges: for every interior edge e_j = j / bins, the float32 value
// nearest to the exact pre-image of e_j and its neighbours up to 4 ulps away on each side, 8 per
// edge. Their g lies within a few 1e-8 of e_j, so every one is within rounding of an edge.
//   GHM-C: logits, for y = 0 (p = e_j) and y = 1 (p = 1 - e_j)
//   GHM-R: d = mu e_j / sqrt(1 - e_j^2) (so g = |d| / sqrt(d^2 + mu^2) = e_j), both signs
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace ghm::testing {

// The 8 float32 values from 4 ulps below v up to 3 ulps above it, appended to `out`.
inline void append_ulp_neighbours(float v, std::vector<float>& out) {
  for (int step = 0; step < 4; ++step) v = std::nextafter(v, -100.0f);
  for (int step = 0; step < 8; ++step, v = std::nextafter(v, 100.0f)) out.push_back(v);
}

// Edge e_j of `bins`, as the losses round it (float32), in double.
inline double probe_edge(int j, int bins) {
  return static_cast<double>(static_cast<float>(j) / static_cast<float>(bins));
}

struct EdgeProbes {
  std::vector<float> logits, labels;
};

inline EdgeProbes ghmc_edge_probes(int bins) {
  EdgeProbes out;
  for (int j = 1; j < bins; ++j) {
    const double e = probe_edge(j, bins);
    for (float label : {0.0f, 1.0f}) {
      const double p = label == 0.0f ? e : 1.0 - e;
      append_ulp_neighbours(static_cast<float>(std::log(p / (1.0 - p))), out.logits);
      out.labels.resize(out.logits.size(), label);
    }
  }
  return out;
}

// GHM-R probes as [rows, 4] boxes: pred = d, target 0.
struct RegEdgeProbes {
  std::vector<float> pred, target;
  std::int64_t rows() const { return static_cast<std::int64_t>(pred.size()) / 4; }
};

inline RegEdgeProbes ghmr_edge_probes(int bins, float mu) {
  RegEdgeProbes out;
  for (int j = 1; j < bins; ++j) {
    const double e = probe_edge(j, bins);
    for (float sign : {-1.0f, 1.0f})
      append_ulp_neighbours(sign * static_cast<float>(static_cast<double>(mu) * e / std::sqrt(1.0 - e * e)), out.pred);
  }
  out.target.assign(out.pred.size(), 0.0f);
  return out;
}

}  // namespace ghm::testing
