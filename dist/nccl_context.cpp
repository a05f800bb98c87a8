// NcclContext (nccl_context.h): ncclCommInitRank with an id from rank 0, and the collectives the
// training step needs: on the legacy default stream, or started on the context's own stream.
#include "dist/nccl_context.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/cuda/device_guard.h"

namespace ghm::dist {
namespace {

void check_nccl(ncclResult_t result, const char* op) {
  if (result == ncclSuccess) return;
  GHM_FAIL("NCCL ", op, " failed: ", ncclGetErrorString(result), " (", ncclGetLastError(nullptr), ")");
}

void check_cuda(cudaError_t result, const char* op) {
  if (result == cudaSuccess) return;
  GHM_FAIL("CUDA ", op, " failed: ", cudaGetErrorString(result));
}

ncclDataType_t nccl_type(Precision wire) {
  GHM_CHECK(wire == Precision::F32 || wire == Precision::BF16, "NCCL all-reduce in ", precision_name(wire),
            ": gradients travel as fp32 or bf16");
  return wire == Precision::F32 ? ncclFloat32 : ncclBfloat16;
}

// ncclGroupStart, one ncclAllReduce per buffer on `stream`, ncclGroupEnd.
void group_all_reduce(ncclComm_t comm, std::span<void* const> buffers, std::span<const std::size_t> sizes,
                      ncclDataType_t type, cudaStream_t stream) {
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    const ncclResult_t r = ncclAllReduce(buffers[i], buffers[i], sizes[i], type, ncclSum, comm, stream);
    if (r != ncclSuccess) {
      ncclGroupEnd();
      check_nccl(r, "ncclAllReduce");
    }
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
}

}  // namespace

// What the context owns, freed in reverse order by ~Impl, also when the constructor fails half-way.
// The destructor does not throw: a failure is reported and the teardown goes on.
struct NcclContext::Impl {
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;  // the overlapped sums' own stream (non-blocking)
  cudaEvent_t queued = nullptr;   // recorded on the legacy stream: the work a started sum waits for
  cudaEvent_t done = nullptr;     // recorded on the own stream: what wait() makes the legacy stream wait for

  ~Impl() {
    int previous = 0;
    const bool switched = cudaGetDevice(&previous) == cudaSuccess && previous != device &&
                          cudaSetDevice(device) == cudaSuccess;
    if (stream != nullptr) {
      if (const cudaError_t r = cudaStreamSynchronize(stream); r != cudaSuccess)
        std::fprintf(stderr, "warning: cudaStreamSynchronize (NCCL stream): %s\n", cudaGetErrorString(r));
    }
    if (comm != nullptr) {
      if (const ncclResult_t r = ncclCommDestroy(comm); r != ncclSuccess)
        std::fprintf(stderr, "warning: ncclCommDestroy: %s\n", ncclGetErrorString(r));
    }
    if (done != nullptr) cudaEventDestroy(done);
    if (queued != nullptr) cudaEventDestroy(queued);
    if (stream != nullptr) cudaStreamDestroy(stream);
    if (switched) cudaSetDevice(previous);
  }
};

NcclContext::NcclContext(int rank, int size, int device, const std::function<void(std::span<std::byte>)>& share_id)
    : impl_(std::make_unique<Impl>()), device_(device) {
  impl_->device = device;
  ncclUniqueId id{};
  if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  share_id(std::as_writable_bytes(std::span<ncclUniqueId>(&id, 1)));
  cuda::DeviceGuard guard(device_);
  check_nccl(ncclCommInitRank(&impl_->comm, size, id, rank), "ncclCommInitRank");
  check_cuda(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  check_cuda(cudaEventCreateWithFlags(&impl_->queued, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check_cuda(cudaEventCreateWithFlags(&impl_->done, cudaEventDisableTiming), "cudaEventCreateWithFlags");
}

NcclContext::~NcclContext() = default;  // Impl's destructor frees everything

void NcclContext::all_reduce_sum(std::span<float* const> buffers, std::span<const std::size_t> sizes) {
  cuda::DeviceGuard guard(device_);
  const std::vector<void*> untyped(buffers.begin(), buffers.end());
  group_all_reduce(impl_->comm, untyped, sizes, ncclFloat32, cudaStreamLegacy);
}

void NcclContext::start_all_reduce_sum(std::span<void* const> buffers, std::span<const std::size_t> sizes,
                                       Precision wire) {
  cuda::DeviceGuard guard(device_);
  const ncclDataType_t type = nccl_type(wire);
  check_cuda(cudaEventRecord(impl_->queued, cudaStreamLegacy), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(impl_->stream, impl_->queued, 0), "cudaStreamWaitEvent");
  group_all_reduce(impl_->comm, buffers, sizes, type, impl_->stream);
}

void NcclContext::wait() {
  cuda::DeviceGuard guard(device_);
  check_cuda(cudaEventRecord(impl_->done, impl_->stream), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(cudaStreamLegacy, impl_->done, 0), "cudaStreamWaitEvent");
}

void NcclContext::broadcast(float* data, std::size_t n, int root) {
  cuda::DeviceGuard guard(device_);
  check_nccl(ncclBroadcast(data, data, n, ncclFloat32, root, impl_->comm, cudaStreamLegacy), "ncclBroadcast");
}

}  // namespace ghm::dist
