// Softmax cross-entropy on CUDA, the twin of losses/softmax_ce.cpp (the math is in
// losses/softmax_ce.h). Pointers are device memory of the current device; kernels run on the
// legacy default stream and nothing here waits for them (the caller reads `bad` back).
//
// Pure C++ declarations; defined in softmax_ce_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>

namespace ghm::losses::cuda {

// pred: [n, k] logits; labels: [n] (-1: row left out); grad: [n, k] written; loss: [1] written;
// bad: [1], zero on entry, set to 1 + the first invalid label found (any one, when several are).
void softmax_cross_entropy_loss(const float* pred, const std::int64_t* labels, std::int64_t n, std::int64_t k,
                                double avg_factor, float loss_weight, float* grad, float* loss, std::int64_t* bad);

}  // namespace ghm::losses::cuda
