// Data-parallel training's two exchanges: the same starting weights on every rank, and after every
// backward each gradient replaced by its mean over the ranks, so that every rank takes the same
// optimizer step (PyTorch DDP's contract).
//
//   dist::broadcast_state(comm, model_tensors);                // once, from rank 0
//   dist::GradientReducer reducer(comm, params, {.bucket_bytes = 25 << 20});  // once: the buckets
//   {
//     const GradReadyScope overlap = reducer.overlap();        // every step:
//     loss.backward();                                          //   buckets start as they fill
//   }
//   reducer.finish();                                           //   the rest, then the means
//
// Gradients travel in buckets of at most `bucket_bytes` of float32 (25 MiB, DDP's default), filled
// with the parameters in reverse order, which is about the order the backward pass completes them
// (the head's first, the stem's last); host and CUDA parameters have buckets of their own. During
// the backward a bucket whose gradients are all final (core/autograd.h, GradReadyScope) starts its
// sum without waiting, in bucket order on every rank, and the rest of the backward runs meanwhile:
// a host bucket is copied into its buffer and summed with MPI_Iallreduce; a CUDA bucket is summed
// by NCCL on a stream of its own once the kernels that made its gradients are done (in place, or
// through a bf16 copy). finish() starts what is left, waits (the host for MPI; for NCCL the
// device's stream of kernels, on the device) and leaves each gradient scaled by 1 / size. A
// gradient larger than a bucket has a bucket of its own. A parameter that requires grad but got
// none in a step contributes zeros, and receives the others' mean.
//
// wire = bf16 (dist.grad_precision) sends each gradient rounded to bfloat16 (to nearest even),
// every partial sum rounded to bfloat16 too, as DDP's bf16 compression hook: half the bytes, and a
// mean within (ranks + 3) / 2 x 2^-8 of the float32 one, relative to the largest of the gradients
// it averages (each of the ranks + (ranks - 1) roundings errs by at most 2^-8 of its value; to
// first order: the second-order terms, about ranks^2 x 2^-16 / 3, fit in the bound's slack up to 9
// ranks). The ranks still receive the same values, so their weights stay equal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/precision.h"
#include "core/tensor.h"
#include "dist/communicator.h"

namespace ghm::dist {

struct ExchangeStats {
  std::size_t bytes = 0;  // summed by this rank's all-reduce calls (the payload, before the library's own traffic)
  int calls = 0;          // all-reduce calls: one per bucket (an MPI call, or an NCCL group)
  int started_early = 0;  // buckets started during the backward
  double seconds = 0;     // the step's time in the exchange outside the backward (finish), copies included
};

// Rank 0's values into every rank's `tensors` (parameters and buffers, in the same order on every rank).
void broadcast_state(Communicator& comm, const std::vector<Tensor>& tensors);

struct ReducerOptions {
  std::size_t bucket_bytes = std::size_t{25} << 20;  // float32 bytes of gradient per bucket
  Precision wire = Precision::F32;                    // F32 or BF16: what the sums carry
  bool alone_too = false;  // exchange in a group of one too (tests of the path on one device)
  // Start buckets during the backward. Off when the backward runs collectives of its own
  // (synchronised batch norm): a rank whose bucket fills later than the others' would otherwise
  // issue its collectives in another order, and collectives must come in one order on every rank.
  bool overlap = true;
};

class GradientReducer {
 public:
  // params: the model's parameters, in the same order on every rank; those that do not require
  // grad are left out. The CUDA ones must all be on one device (one GPU per process).
  GradientReducer(Communicator& comm, const std::vector<Tensor>& params, const ReducerOptions& options = {});

  // For the backward pass it covers: full buckets start their sums.
  GradReadyScope overlap();
  // Starts the buckets not started yet, waits for all, leaves every gradient at its mean over the
  // ranks, and returns the step's figures. Call once after each backward, on every rank.
  ExchangeStats finish();

  int buckets() const { return static_cast<int>(host_.size() + device_.size()); }

 private:
  struct Bucket {
    std::vector<Tensor> params;         // in the order they fill the buffer
    std::size_t elements = 0;           // their gradients' elements, back to back
    std::vector<float> host;            // [elements] host, f32 wire
    std::vector<std::uint16_t> host16;  // [elements] host, bf16 wire
    Tensor device16;                    // [2 * elements] bytes on the GPU (U8): the bf16 wire
    int ready = 0;
  };
  enum Side { kHost = 0, kDevice = 1 };

  bool active() const { return comm_.size() > 1 || options_.alone_too; }
  void on_ready(const Tensor& leaf);
  void start(Side side, Bucket& bucket);
  void start_host(Bucket& bucket);
  void start_device(Bucket& bucket);
  void finish_host(Bucket& bucket, float scale);
  void finish_device(Bucket& bucket, float scale);

  Communicator& comm_;
  ReducerOptions options_;
  std::vector<Bucket> host_, device_;
  int device_index_ = -1;  // the CUDA device of device_'s parameters
  std::unordered_map<const TensorImpl*, std::pair<Side, std::size_t>> bucket_of_;
  std::size_t next_to_start_[2] = {0, 0};
  ExchangeStats step_;
};

// p.grad() = mean over ranks of p.grad() for every p of `params` that requires grad, without
// overlap: GradientReducer(comm, params, bucket_bytes).finish().
ExchangeStats average_gradients(Communicator& comm, const std::vector<Tensor>& params,
                                std::size_t bucket_bytes = std::size_t{25} << 20);

}  // namespace ghm::dist
