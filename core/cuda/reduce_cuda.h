// CUDA reduction kernels: the twins of core/cpu/reduce_cpu.h. Pointers are device memory of the
// current device; kernels run on the legacy default stream. Results do not depend on timing:
// every sum is taken in a fixed order.
//
// Pure C++ declarations; defined in reduce_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

namespace ghm::cuda {

// out[o, i] = sum_r x[o, r, i].        x: [outer, r, inner], out: [outer, inner]
void sum_middle(const float* x, float* out, std::int64_t outer, std::int64_t r, std::int64_t inner);
// out[0] = scale * (sum of all n elements), accumulated in double: per-block partial sums over
// fixed ranges, then the partials added in block order.            x: [n], out: [1] (device)
void sum_all(const float* x, std::int64_t n, double scale, float* out);

}  // namespace ghm::cuda
