// CPU reduction kernels.
#pragma once

#include <cstdint>

namespace ghm::cpu {

// out[o, i] = sum_r x[o, r, i].        x: [outer, r, inner], out: [outer, inner]
void sum_middle(const float* x, float* out, std::int64_t outer, std::int64_t r, std::int64_t inner);
// Sum of all elements, accumulated in double over fixed chunks summed in order (thread-count independent).
double sum_all(const float* x, std::int64_t n);

}  // namespace ghm::cpu
