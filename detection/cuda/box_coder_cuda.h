// CUDA kernels behind detection::encode_box_deltas / decode_box_deltas: the twins of
// detection::cpu::encode_box_deltas / decode_box_deltas (same names, same arguments, same per-box
// formulas: encode_box_delta / decode_box_delta in detection/box_coder.h). Pointers are device
// memory of the current device; kernels run on the legacy default stream.
//
// Pure C++ declarations; defined in box_coder_cuda.cu, which is built only with CUDA.
#pragma once

#include <cstdint>
#include <optional>

#include "detection/box_coder.h"  // BoxCoderParams, ImageSize

namespace ghm::detection::cuda {

// deltas[i] = encode_box_delta(anchors[i], boxes[i], params).
void encode_box_deltas(const float* anchors,  // [N, 4]
                       const float* boxes,    // [N, 4]
                       std::int64_t n, const BoxCoderParams& params,
                       float* deltas);        // [N, 4]
// boxes[i] = decode_box_delta(anchors[i], deltas[i], params), clipped to `clip_to` when given.
void decode_box_deltas(const float* anchors,  // [N, 4]
                       const float* deltas,   // [N, 4]
                       std::int64_t n, std::optional<ImageSize> clip_to, const BoxCoderParams& params,
                       float* boxes);  // [N, 4]

}  // namespace ghm::detection::cuda
