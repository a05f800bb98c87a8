// The processes of one job and what they exchange: the one layer between the training and
// evaluation code and MPI/NCCL.
//
//   dist::Communicator& comm = dist::world();
//   if (comm.size() > 1) comm.all_reduce_sum(gradient);   // gradient: CPU (MPI) or CUDA (NCCL) f32
//   comm.broadcast(weights, 0);                            // rank 0's values everywhere
//   std::vector<std::string> parts = comm.all_gather(my_detections_json);  // parts[r]: rank r's
//
// world() is chosen once per process, from how the process was started (launch.h):
//   - no launcher: a group of one ("single"); every operation leaves its data as it is;
//   - a launcher (mpirun, srun, any size): MPI, with NCCL for CUDA tensors when built with it
//     ("mpi", "mpi+nccl"). A binary built without MPI refuses to start as one of several.
// Every operation is collective: every rank calls it, in the same order, with buffers of the same
// size (except all_gather's). Failures are errors naming the operation; a rank that fails should
// call end_job() so that the others do not wait in a collective forever (apps/main.cpp does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/precision.h"
#include "core/tensor.h"

namespace ghm::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The rank among the processes on this machine (0..); picks the GPU of a process.
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual const char* backend() const = 0;  // "single", "mpi", "mpi+nccl"

  // In place on every rank: data[i] = the sum over ranks of data[i]. Host memory. The order of
  // the additions is the library's: equal on every rank, not always rank 0 + 1 + 2 ...
  virtual void all_reduce_sum(std::span<float> data) = 0;
  virtual void all_reduce_sum(std::span<double> data) = 0;  // counts and statistics
  // The same for bfloat16 values (core/bfloat16.h), each partial sum rounded to bfloat16.
  virtual void all_reduce_sum_bf16(std::span<std::uint16_t> data) = 0;
  // The same sum, started without waiting (MPI_Iallreduce): `data` must stay alive and untouched
  // until wait_all(). progress() lets started sums advance (MPI moves them only inside its own
  // calls); wait_all() completes every started sum. Started sums complete in the order started.
  virtual void start_all_reduce_sum(std::span<float> data) = 0;
  virtual void start_all_reduce_sum_bf16(std::span<std::uint16_t> data) = 0;
  virtual void progress() = 0;
  virtual void wait_all() = 0;
  // The same for buffers on CUDA device `device` (NCCL), f32 or bf16 (`wire`): buffers[i] holds
  // [sizes[i]] values, summed in place, all as one group. The sums run on a stream of their own
  // once the kernels queued so far on the device's stream (where every kernel of this program
  // runs) are done, so the kernels queued after them run meanwhile. wait_device() makes the
  // device's stream wait (on the device; the host goes on) for every sum started.
  virtual void start_device_all_reduce_sum(std::span<void* const> buffers, std::span<const std::size_t> sizes,
                                           Precision wire, int device) = 0;
  virtual void wait_device(int device) = 0;
  // root's bytes into every rank's `data`.
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  // Every rank's `mine`, in rank order, on every rank; the sizes may differ.
  virtual std::vector<std::string> all_gather(std::string_view mine) = 0;
  virtual void barrier() = 0;

  // Tensors, contiguous f32, on the CPU or (built with NCCL) a CUDA device: sum in place, or
  // root's values everywhere. Several CUDA tensors (one device) go as one NCCL group.
  void all_reduce_sum(Tensor& t);
  void all_reduce_sum(std::span<Tensor> tensors);
  void broadcast(Tensor& t, int root);

  // Ends every process of the job with `code` (MPI_Abort), after this rank reported its error.
  [[noreturn]] virtual void abort(int code) = 0;
  // Frees what lives on a GPU (the NCCL communicator); later CUDA collectives make it again.
  virtual void release_device() {}

 protected:
  // buffers[i]: [sizes[i]] f32 in the memory of CUDA device `device` (NCCL): as above, one group.
  virtual void device_all_reduce_sum(std::span<float* const> buffers, std::span<const std::size_t> sizes,
                                     int device) = 0;
  virtual void device_broadcast(float* data, std::size_t n, int root, int device) = 0;
};

// What this binary was built with: MPI (GHM_MPI) and NCCL (GHM_NCCL).
bool mpi_available();
bool nccl_available();

// The job's communicator (see the top of this file); made on first use.
Communicator& world();

// After an error on this rank: when it is one of several, ends the whole job with `code` so that
// no rank hangs in a collective; otherwise returns. Does not start MPI when nothing used it.
void end_job(int code);

// world().release_device() when the world exists. The MPI backend registers it with atexit once
// NCCL is up, i.e. after the CUDA runtime started, so that it runs before the runtime's own
// teardown.
void release_device_resources();

// "rank 1/4: " in a job of several processes, "" otherwise, for messages.
std::string rank_prefix();

}  // namespace ghm::dist
