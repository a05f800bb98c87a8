// Classification inputs that sit on GHM-C's bin edges: for every interior edge e_j = j / bins, the
// float32 logits nearest to the exact pre-image of e_j (y = 0: p = e_j; y = 1: p = 1 - e_j) and
// their neighbours up to 4 ulps away on each side, 8 per edge and label. Their g lies within a few
// 1e-8 of e_j, so every one is within rounding of an edge.
#pragma once

#include <cmath>
#include <vector>

namespace ghm::testing {

struct EdgeProbes {
  std::vector<float> logits, labels;
};

inline EdgeProbes ghmc_edge_probes(int bins) {
  EdgeProbes out;
  for (int j = 1; j < bins; ++j) {
    const double e = static_cast<double>(static_cast<float>(j) / static_cast<float>(bins));
    for (float label : {0.0f, 1.0f}) {
      const double p = label == 0.0f ? e : 1.0 - e;
      float v = static_cast<float>(std::log(p / (1.0 - p)));
      for (int step = 0; step < 4; ++step) v = std::nextafter(v, -100.0f);
      for (int step = 0; step < 8; ++step, v = std::nextafter(v, 100.0f)) {
        out.logits.push_back(v);
        out.labels.push_back(label);
      }
    }
  }
  return out;
}

}  // namespace ghm::testing
