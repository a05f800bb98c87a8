// For post-processing on a GPU: the elements of one FPN level's class logits that pass the CPU's
// pre-filter (logit > threshold) are found on the device and only they cross to the host, where
// post-processing continues exactly as for CPU tensors (detection/retinanet/postprocess.cpp). The comparison
// is one float32 `>` on both sides, so the candidates are the CPU's, in ascending index order.
//
// Pure C++ declarations; defined in candidates_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>
#include <vector>

namespace ghm::detection::cuda {

struct Candidates {
  std::vector<std::int64_t> index;  // flat indices into logits, ascending
  std::vector<float> logit;         // logits[index[i]]
};

// Every i in [0, n) with logits[i] > threshold (NaN never passes).   logits: [n] on cuda:`device`
Candidates select_above(const float* logits, std::int64_t n, float threshold, int device);

}  // namespace ghm::detection::cuda
