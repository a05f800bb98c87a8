#include "losses/cpu/ghm_cpu.h"

namespace ghm::losses::cpu {

int ghm_bin_weights(const std::int64_t* num_in_bin, int bins, double tot, double momentum, float* acc_sum,
                    float* bin_weight) {
  int n = 0;
  const float m = static_cast<float>(momentum);
  for (int i = 0; i < bins; ++i) {
    bin_weight[i] = 0.0f;
    if (num_in_bin[i] == 0) continue;
    ++n;
    const double r = static_cast<double>(num_in_bin[i]);
    if (momentum > 0.0) {
      acc_sum[i] = m * acc_sum[i] + static_cast<float>((1.0 - momentum) * r);
      bin_weight[i] = (1.0f / acc_sum[i]) * static_cast<float>(tot);
    } else {
      bin_weight[i] = static_cast<float>(tot / r);
    }
  }
  if (n > 0)
    for (int i = 0; i < bins; ++i) bin_weight[i] /= static_cast<float>(n);
  return n;
}

GhmWorkspace& ghm_workspace(std::int64_t elements) {
  thread_local GhmWorkspace ws;
  if (elements > ws.capacity) {
    ws.bins.reset(new std::uint8_t[static_cast<std::size_t>(elements)]);
    ws.loss.reset(new float[static_cast<std::size_t>(elements)]);
    ws.capacity = elements;
  }
  return ws;
}

}  // namespace ghm::losses::cpu
