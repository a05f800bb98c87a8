// Whether float32 matrix products on CUDA (cuDNN convolutions, cuBLAS GEMMs) may use TF32 tensor
// cores: inputs rounded to a 10-bit mantissa, products accumulated in float32. On by default, as
// in PyTorch's cuDNN convolutions; the environment variable GHM_CUDA_TF32=0 (read once, on first
// use) or set_cuda_tf32_allowed(false) gives full float32 everywhere (the backend-consistency
// tests run that way). The CPU backend is always full float32.
//
// Pure C++: usable with or without CUDA.
#pragma once

namespace ghm::cuda {

bool tf32_allowed();
void set_tf32_allowed(bool allowed);

// Sets the switch for a scope and restores the previous value on exit (tests, benchmarks).
class Tf32Scope {
 public:
  explicit Tf32Scope(bool allowed) : previous_(tf32_allowed()) { set_tf32_allowed(allowed); }
  ~Tf32Scope() { set_tf32_allowed(previous_); }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool previous_;
};

}  // namespace ghm::cuda
