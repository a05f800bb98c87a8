// A minimal CUDA kernel that proves the toolchain end to end: nvcc compiles it, the library links
// it, and a GPU test runs it against a CPU loop. Pure C++ declaration; defined in smoke.cu.
#pragma once

#include <cstdint>

namespace ghm {

// y[i] += a * x[i] for i in [0, n), on the current device and the default stream. x and y are
// device pointers to n floats each (may be null when n == 0). Asynchronous: the result is visible
// after the next synchronising call (e.g. a device-to-host copy).
void cuda_axpy(float a, const float* x, float* y, std::int64_t n);

}  // namespace ghm
