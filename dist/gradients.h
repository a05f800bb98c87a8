// Data-parallel training's two exchanges: the same starting weights on every rank, and after every
// backward each gradient replaced by its mean over the ranks, so that every rank takes the same
// optimizer step (PyTorch DDP's contract).
//
//   dist::broadcast_state(comm, model_tensors);                // once, from rank 0
//   loss.backward();
//   dist::average_gradients(comm, params);                     // every step, before clipping
//
// Host gradients travel in buckets of at most `bucket_bytes` (25 MiB, DDP's default): each bucket
// is the gradients copied back to back, summed with one all-reduce, and copied back scaled by
// 1 / size; a gradient larger than a bucket is summed in place. CUDA gradients go as one NCCL
// group. Parameters without a gradient are skipped (every rank has the same ones).
//
// Not yet: starting a bucket's all-reduce during backward, as soon as its gradients are complete
// (DDP's overlap); here the exchange follows the whole backward.
#pragma once

#include <cstddef>
#include <vector>

#include "core/tensor.h"
#include "dist/communicator.h"

namespace ghm::dist {

struct ExchangeStats {
  std::size_t bytes = 0;  // sent by this rank's all-reduce calls (the payload, before the library's own traffic)
  int calls = 0;          // all-reduce calls (host buckets and large tensors, or one NCCL group)
  double seconds = 0;     // in the exchange, copies included
};

// Rank 0's values into every rank's `tensors` (parameters and buffers, in the same order on every rank).
void broadcast_state(Communicator& comm, const std::vector<Tensor>& tensors);

// p.grad() = mean over ranks of p.grad(), for every p of `params` that has a gradient.
ExchangeStats average_gradients(Communicator& comm, const std::vector<Tensor>& params,
                                std::size_t bucket_bytes = std::size_t{25} << 20);

}  // namespace ghm::dist
