// An NCCL communicator over the job's ranks, one GPU per process: the CUDA half of the MPI
// backend (mpi_communicator.cpp). Built only with GHM_NCCL.
//
// Rank 0 makes the NCCL unique id and the MPI side broadcasts it (`share_id`); every rank then
// joins with ncclCommInitRank on its device. all_reduce_sum and broadcast run on the legacy default
// stream, where every kernel of this program runs, so they are ordered with the backward pass that
// made the gradients and the optimizer step that reads them, without a host synchronisation.
//
// start_all_reduce_sum overlaps instead: the sum runs on the context's own stream (non-blocking,
// so the legacy stream's kernels do not wait for it), after an event recorded on the legacy stream
// when it is called; wait() records an event on the own stream and makes the legacy stream wait
// for it. The kernels queued between the two run beside the sums:
//
//   legacy:  ..grad k ready | backward continues ...........| wait ► scale, optimizer
//   own:                    └► ncclAllReduce(bucket k) ─────┘
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include "core/precision.h"

namespace ghm::dist {

class NcclContext {
 public:
  // Joins the NCCL communicator of `size` ranks as `rank`, on CUDA device `device`. `share_id`
  // broadcasts rank 0's bytes to every rank (in place).
  NcclContext(int rank, int size, int device, const std::function<void(std::span<std::byte>)>& share_id);
  ~NcclContext();
  NcclContext(const NcclContext&) = delete;
  NcclContext& operator=(const NcclContext&) = delete;

  int device() const { return device_; }
  // buffers[i]: [sizes[i]] f32 on device(); each summed in place, all as one NCCL group.
  void all_reduce_sum(std::span<float* const> buffers, std::span<const std::size_t> sizes);
  // data: [n] f32 on device().
  void broadcast(float* data, std::size_t n, int root);
  // buffers[i]: [sizes[i]] values in `wire` (f32 or bf16) on device(): summed in place on the own
  // stream, as one group, after the work queued so far on the legacy stream.
  void start_all_reduce_sum(std::span<void* const> buffers, std::span<const std::size_t> sizes, Precision wire);
  // The legacy stream waits for every sum started so far (the host does not).
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int device_;
};

}  // namespace ghm::dist
