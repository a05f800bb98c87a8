// Synchronised batch norm over a job's processes: the BatchNormSync (core/ops/norm.h) that makes
// each BatchNorm2d's training statistics those of the job's whole batch.
//
//   combine  every process's per-channel count, mean and biased variance (an all-gather of
//            2C + 1 numbers), joined in rank order in double precision (Chan et al.'s pairwise
//            formula: mean = sum n_r m_r / n, var = sum n_r (v_r + (m_r - mean)^2) / n), so every
//            process gets the same statistics
//   sum      the backward's per-channel sums of dy and dy * xhat (an all-reduce of 2C floats;
//            NCCL for CUDA tensors)
// Two collectives per layer and step, in the order of the layers on every process.
#pragma once

#include "core/ops/norm.h"
#include "dist/communicator.h"

namespace ghm::dist {

BatchNormSync batch_norm_sync(Communicator& comm);

}  // namespace ghm::dist
