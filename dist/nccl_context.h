// An NCCL communicator over the job's ranks, one GPU per process: the CUDA half of the MPI
// backend (mpi_communicator.cpp). Built only with GHM_NCCL.
//
// Rank 0 makes the NCCL unique id and the MPI side broadcasts it (`share_id`); every rank then
// joins with ncclCommInitRank on its device. Operations run on the legacy default stream, where
// every kernel of this program runs, so they are ordered with the backward pass that made the
// gradients and the optimizer step that reads them, without a host synchronisation.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>

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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int device_;
};

}  // namespace ghm::dist
