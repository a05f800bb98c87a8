#include "losses/cpu/ghm_cpu.h"

namespace ghm::losses::cpu {

int ghm_bin_weights(const std::int64_t* num_in_bin, int bins, double tot, double momentum, float* acc_sum,
                    float* bin_weight) {
  return losses::ghm_bin_weights(num_in_bin, bins, tot, momentum, acc_sum, bin_weight);
}

void sum_across(const GhmCountSum& across, std::vector<std::int64_t>& num_in_bin, double& tot) {
  std::vector<double> values(num_in_bin.begin(), num_in_bin.end());
  values.push_back(tot);
  across.sum(values);
  for (std::size_t b = 0; b < num_in_bin.size(); ++b) num_in_bin[b] = static_cast<std::int64_t>(values[b]);
  tot = values.back();
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
