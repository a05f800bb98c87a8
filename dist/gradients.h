// Data-parallel training's two exchanges: the same starting weights on every rank, and after every
// backward each gradient replaced by its mean over the ranks, so that every rank takes the same
// optimizer step (PyTorch DDP's contract).
//
//   dist::broadcast_state(comm, model_tensors);                // once, from rank 0
//   dist::GradientReducer reducer(comm, params, 25 << 20);     // once: the buckets
//   {
//     const GradReadyScope overlap = reducer.overlap();        // every step:
//     loss.backward();                                          //   buckets start as they fill
//   }
//   reducer.finish();                                           //   the rest, then the means
//
// Host gradients travel in buckets of at most `bucket_bytes` (25 MiB, DDP's default), filled with
// the parameters in reverse order, which is about the order the backward pass completes them
// (the head's first, the stem's last). During the backward a bucket whose gradients are all final
// (core/autograd.h, GradReadyScope) is copied into its buffer and its sum started without waiting
// (MPI_Iallreduce), in bucket order on every rank; the rest of the backward runs meanwhile.
// finish() starts what is left, waits, and copies each bucket back scaled by 1 / size. A gradient
// larger than a bucket has a bucket of its own. CUDA gradients go as one NCCL group in finish()
// (on the stream of every kernel, so after the backward). A parameter that requires grad but got
// none in a step contributes zeros, and receives the others' mean.
#pragma once

#include <cstddef>
#include <unordered_map>
#include <vector>

#include "core/autograd.h"
#include "core/tensor.h"
#include "dist/communicator.h"

namespace ghm::dist {

struct ExchangeStats {
  std::size_t bytes = 0;  // summed by this rank's all-reduce calls (the payload, before the library's own traffic)
  int calls = 0;          // all-reduce calls: host buckets, and one NCCL group for the CUDA gradients
  int started_early = 0;  // host buckets started during the backward
  double seconds = 0;     // the step's time in the exchange outside the backward (finish), copies included
};

// Rank 0's values into every rank's `tensors` (parameters and buffers, in the same order on every rank).
void broadcast_state(Communicator& comm, const std::vector<Tensor>& tensors);

class GradientReducer {
 public:
  // params: the model's parameters, in the same order on every rank; those that do not require
  // grad are left out.
  GradientReducer(Communicator& comm, const std::vector<Tensor>& params,
                  std::size_t bucket_bytes = std::size_t{25} << 20);

  // For the backward pass it covers: full buckets start their sums.
  GradReadyScope overlap();
  // Starts the buckets not started yet, waits for all, leaves every gradient at its mean over the
  // ranks, and returns the step's figures. Call once after each backward, on every rank.
  ExchangeStats finish();

  int buckets() const { return static_cast<int>(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<Tensor> params;  // in the order they fill the buffer
    std::vector<float> buffer;   // [elements] the gradients back to back
    int ready = 0;
    bool started = false;
  };

  void on_ready(const Tensor& leaf);
  void start(Bucket& bucket);

  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<Tensor> device_params_;  // CUDA parameters: one NCCL group in finish()
  std::unordered_map<const TensorImpl*, std::size_t> bucket_of_;
  std::size_t next_to_start_ = 0;
  ExchangeStats step_;
};

// p.grad() = mean over ranks of p.grad() for every p of `params` that requires grad, without
// overlap: GradientReducer(comm, params, bucket_bytes).finish().
ExchangeStats average_gradients(Communicator& comm, const std::vector<Tensor>& params,
                                std::size_t bucket_bytes = std::size_t{25} << 20);

}  // namespace ghm::dist
