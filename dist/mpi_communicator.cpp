// The MPI backend (mpi_communicator.h): host buffers through MPI collectives on a copy of
// MPI_COMM_WORLD, CUDA buffers through NCCL (nccl_context.h) when built with it. MPI counts are
// ints, so every operation goes in pieces of at most kPiece elements.
#include "dist/mpi_communicator.h"

#include "core/check.h"

#if GHM_WITH_MPI
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/bfloat16.h"
#if GHM_WITH_NCCL
#include "dist/nccl_context.h"
#endif
#endif

namespace ghm::dist {

bool mpi_available() { return GHM_WITH_MPI; }
bool nccl_available() { return GHM_WITH_NCCL; }

#if !GHM_WITH_MPI

std::unique_ptr<Communicator> make_mpi_communicator() {
  GHM_FAIL("this ghm_retinanet was built without MPI (GHM_MPI=OFF, or no MPI found when it was built)");
}

#else

namespace {

constexpr std::size_t kPiece = std::size_t{1} << 30;  // elements per MPI call

void check_mpi(int code, const char* op) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  GHM_FAIL("MPI ", op, " failed: ", std::string(text, static_cast<std::size_t>(length)));
}

// The reduction of all_reduce_sum_bf16: inout[i] = bf16(in[i] + inout[i]), added in float.
extern "C" void bf16_sum(void* in, void* inout, int* length, MPI_Datatype*) {
  const auto* a = static_cast<const std::uint16_t*>(in);
  auto* b = static_cast<std::uint16_t*>(inout);
  for (int i = 0; i < *length; ++i) b[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local_), "MPI_Comm_split_type");
    check_mpi(MPI_Comm_rank(local_, &local_rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(local_, &local_size_), "MPI_Comm_size");
    check_mpi(MPI_Op_create(bf16_sum, 1, &bf16_sum_op_), "MPI_Op_create");
  }

  ~MpiCommunicator() override {
#if GHM_WITH_NCCL
    nccl_.reset();
#endif
    MPI_Op_free(&bf16_sum_op_);
    MPI_Comm_free(&local_);
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  const char* backend() const override { return nccl_available() ? "mpi+nccl" : "mpi"; }

  void all_reduce_sum(std::span<float> data) override {
    for (std::size_t at = 0; at < data.size(); at += kPiece)
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data.data() + at, piece(data.size(), at), MPI_FLOAT, MPI_SUM, comm_),
                "MPI_Allreduce");
  }

  void all_reduce_sum(std::span<double> data) override {
    for (std::size_t at = 0; at < data.size(); at += kPiece)
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data.data() + at, piece(data.size(), at), MPI_DOUBLE, MPI_SUM, comm_),
                "MPI_Allreduce");
  }

  void start_all_reduce_sum(std::span<float> data) override {
    for (std::size_t at = 0; at < data.size(); at += kPiece) {
      MPI_Request request = MPI_REQUEST_NULL;
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data.data() + at, piece(data.size(), at), MPI_FLOAT, MPI_SUM, comm_,
                               &request),
                "MPI_Iallreduce");
      pending_.push_back(request);
    }
  }

  void start_all_reduce_sum_bf16(std::span<std::uint16_t> data) override {
    for (std::size_t at = 0; at < data.size(); at += kPiece) {
      MPI_Request request = MPI_REQUEST_NULL;
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data.data() + at, piece(data.size(), at), MPI_UINT16_T, bf16_sum_op_,
                               comm_, &request),
                "MPI_Iallreduce (bfloat16)");
      pending_.push_back(request);
    }
  }

  void start_device_all_reduce_sum(std::span<void* const> buffers, std::span<const std::size_t> sizes, Precision wire,
                                   int device) override {
#if GHM_WITH_NCCL
    nccl(device).start_all_reduce_sum(buffers, sizes, wire);
#else
    (void)buffers, (void)sizes, (void)wire, (void)device;
    fail_no_nccl("all_reduce_sum");
#endif
  }

  void wait_device(int device) override {
#if GHM_WITH_NCCL
    nccl(device).wait();
#else
    (void)device;
    fail_no_nccl("all_reduce_sum");
#endif
  }

  void progress() override {
    if (pending_.empty()) return;
    int done = 0;
    check_mpi(MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE),
              "MPI_Testall");
    if (done) pending_.clear();
  }

  void wait_all() override {
    if (pending_.empty()) return;
    const int code = MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
    pending_.clear();
    check_mpi(code, "MPI_Waitall");
  }

  void all_reduce_sum_bf16(std::span<std::uint16_t> data) override {
    for (std::size_t at = 0; at < data.size(); at += kPiece)
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data.data() + at, piece(data.size(), at), MPI_UINT16_T, bf16_sum_op_,
                              comm_),
                "MPI_Allreduce (bfloat16)");
  }

  void broadcast(std::span<std::byte> data, int root) override {
    check_root(root, "broadcast");
    for (std::size_t at = 0; at < data.size(); at += kPiece)
      check_mpi(MPI_Bcast(data.data() + at, piece(data.size(), at), MPI_BYTE, root, comm_), "MPI_Bcast");
  }

  std::vector<std::string> all_gather(std::string_view mine) override {
    std::vector<long long> sizes(static_cast<std::size_t>(size_));
    const auto my_size = static_cast<long long>(mine.size());
    check_mpi(MPI_Allgather(&my_size, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, comm_), "MPI_Allgather");
    std::vector<int> counts, offsets;
    long long total = 0;
    for (const long long s : sizes) {
      GHM_CHECK(total + s <= INT32_MAX, "all_gather: the ranks' parts add up to more than 2 GiB");
      counts.push_back(static_cast<int>(s));
      offsets.push_back(static_cast<int>(total));
      total += s;
    }
    std::string all(static_cast<std::size_t>(total), '\0');
    check_mpi(MPI_Allgatherv(mine.data(), static_cast<int>(mine.size()), MPI_BYTE, all.data(), counts.data(),
                             offsets.data(), MPI_BYTE, comm_),
              "MPI_Allgatherv");
    std::vector<std::string> parts;
    for (int r = 0; r < size_; ++r) parts.push_back(all.substr(offsets[r], counts[r]));
    return parts;
  }

  void barrier() override { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

  void release_device() override {
#if GHM_WITH_NCCL
    nccl_.reset();
#endif
  }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; should it, this process still ends
  }

 protected:
  void device_all_reduce_sum(std::span<float* const> buffers, std::span<const std::size_t> sizes,
                             int device) override {
#if GHM_WITH_NCCL
    nccl(device).all_reduce_sum(buffers, sizes);
#else
    (void)buffers, (void)sizes, (void)device;
    fail_no_nccl("all_reduce_sum");
#endif
  }

  void device_broadcast(float* data, std::size_t n, int root, int device) override {
    check_root(root, "broadcast");
#if GHM_WITH_NCCL
    nccl(device).broadcast(data, n, root);
#else
    (void)data, (void)n, (void)device;
    fail_no_nccl("broadcast");
#endif
  }

 private:
  static int piece(std::size_t total, std::size_t at) { return static_cast<int>(std::min(kPiece, total - at)); }
  void check_root(int root, const char* op) const {
    GHM_CHECK(root >= 0 && root < size_, op, ": root ", root, " is not a rank of ", size_, " processes");
  }
  [[noreturn]] static void fail_no_nccl(const char* op) {
    GHM_FAIL(op, " of a CUDA tensor: this ghm_retinanet was built without NCCL (GHM_NCCL=OFF, or no NCCL found)");
  }

#if GHM_WITH_NCCL
  // Made on first use, on the device of the first CUDA tensor; one GPU per process. Freed at exit
  // before the CUDA runtime goes (release_device_resources).
  NcclContext& nccl(int device) {
    if (!nccl_) {
      nccl_ = std::make_unique<NcclContext>(rank_, size_, device, [&](std::span<std::byte> id) { broadcast(id, 0); });
      static const bool registered = std::atexit([] { release_device_resources(); }) == 0;
      (void)registered;
    }
    GHM_CHECK(nccl_->device() == device, "NCCL: this process uses cuda:", nccl_->device(), ", not cuda:", device,
              " (one GPU per process)");
    return *nccl_;
  }
  std::unique_ptr<NcclContext> nccl_;
#endif

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm local_ = MPI_COMM_NULL;
  MPI_Op bf16_sum_op_ = MPI_OP_NULL;
  std::vector<MPI_Request> pending_;  // started host sums (start_all_reduce_sum*), until wait_all
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool owns_mpi_ = false;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

#endif

}  // namespace ghm::dist
