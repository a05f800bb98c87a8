// NcclContext (nccl_context.h): ncclCommInitRank with an id from rank 0, and the two collectives
// the training step needs, on the legacy default stream.
#include "dist/nccl_context.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdio>
#include <cstring>

#include "core/check.h"
#include "core/cuda/device_guard.h"

namespace ghm::dist {
namespace {

void check_nccl(ncclResult_t result, const char* op) {
  if (result == ncclSuccess) return;
  GHM_FAIL("NCCL ", op, " failed: ", ncclGetErrorString(result), " (", ncclGetLastError(nullptr), ")");
}

}  // namespace

struct NcclContext::Impl {
  ncclComm_t comm = nullptr;
};

NcclContext::NcclContext(int rank, int size, int device, const std::function<void(std::span<std::byte>)>& share_id)
    : impl_(std::make_unique<Impl>()), device_(device) {
  ncclUniqueId id{};
  if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  share_id(std::as_writable_bytes(std::span<ncclUniqueId>(&id, 1)));
  cuda::DeviceGuard guard(device_);
  check_nccl(ncclCommInitRank(&impl_->comm, size, id, rank), "ncclCommInitRank");
}

NcclContext::~NcclContext() {
  if (impl_->comm == nullptr) return;
  if (const ncclResult_t r = ncclCommDestroy(impl_->comm); r != ncclSuccess)
    std::fprintf(stderr, "warning: ncclCommDestroy: %s\n", ncclGetErrorString(r));
}

void NcclContext::all_reduce_sum(std::span<float* const> buffers, std::span<const std::size_t> sizes) {
  cuda::DeviceGuard guard(device_);
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    const ncclResult_t r =
        ncclAllReduce(buffers[i], buffers[i], sizes[i], ncclFloat32, ncclSum, impl_->comm, cudaStreamLegacy);
    if (r != ncclSuccess) {
      ncclGroupEnd();
      check_nccl(r, "ncclAllReduce");
    }
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
}

void NcclContext::broadcast(float* data, std::size_t n, int root) {
  cuda::DeviceGuard guard(device_);
  check_nccl(ncclBroadcast(data, data, n, ncclFloat32, root, impl_->comm, cudaStreamLegacy), "ncclBroadcast");
}

}  // namespace ghm::dist
