// world(), the group of one, and the tensor forms of the operations (communicator.h). The MPI
// backend is mpi_communicator.cpp's.
#include "dist/communicator.h"

#include <atomic>
#include <cstdlib>
#include <memory>

#include "core/check.h"
#include "dist/launch.h"
#include "dist/mpi_communicator.h"

namespace ghm::dist {
namespace {

// One process: every collective is the identity.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  const char* backend() const override { return "single"; }
  void all_reduce_sum(std::span<float>) override {}
  void all_reduce_sum(std::span<double>) override {}
  void all_reduce_sum_bf16(std::span<std::uint16_t>) override {}
  void start_all_reduce_sum(std::span<float>) override {}
  void start_all_reduce_sum_bf16(std::span<std::uint16_t>) override {}
  void start_device_all_reduce_sum(std::span<void* const>, std::span<const std::size_t>, Precision, int) override {}
  void wait_device(int) override {}
  void progress() override {}
  void wait_all() override {}
  void broadcast(std::span<std::byte>, int root) override { check_root(root); }
  std::vector<std::string> all_gather(std::string_view mine) override { return {std::string(mine)}; }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }

 protected:
  void device_all_reduce_sum(std::span<float* const>, std::span<const std::size_t>, int) override {}
  void device_broadcast(float*, std::size_t, int root, int) override { check_root(root); }

 private:
  static void check_root(int root) { GHM_CHECK(root == 0, "broadcast: root ", root, " is not a rank of 1 process"); }
};

std::atomic<Communicator*> g_started{nullptr};

std::unique_ptr<Communicator> make_world() {
  const std::optional<Launch> launch = detect_launch();
  if (!launch) return std::make_unique<SingleProcess>();
  check_launch(launch, mpi_available());
  if (!mpi_available()) return std::make_unique<SingleProcess>();
  std::unique_ptr<Communicator> mpi = make_mpi_communicator();
  // An MPI that does not know the launcher (srun without --mpi=pmix, a different MPI than the one
  // built with) starts every process as a job of its own: each would train alone.
  GHM_CHECK(mpi->size() == launch->world_size && mpi->rank() == launch->rank, "the launcher started this process as ",
            launch->rank, " of ", launch->world_size, " (", launch->size_variable, "), but MPI sees rank ", mpi->rank(),
            " of ", mpi->size(), ": start it with the mpirun of the MPI it was built with, or srun --mpi=pmix");
  return mpi;
}

void check_tensor(const Tensor& t, const char* op) {
  GHM_CHECK(t.defined() && t.dtype() == DType::F32, op, ": wants an f32 tensor, got ",
            t.defined() ? dtype_name(t.dtype()) : "an undefined tensor");
}

// The world's owner: forgets it for end_job and rank_prefix before it goes (static destruction).
struct WorldHolder {
  std::unique_ptr<Communicator> world = make_world();
  WorldHolder() { g_started.store(world.get()); }
  ~WorldHolder() { g_started.store(nullptr); }
};

}  // namespace

Communicator& world() {
  static WorldHolder holder;
  return *holder.world;
}

void release_device_resources() {
  if (Communicator* w = g_started.load()) w->release_device();
}

void end_job(int code) {
  Communicator* w = g_started.load();
  if (w != nullptr && w->size() > 1) w->abort(code);
}

std::string rank_prefix() {
  Communicator* w = g_started.load();
  return w != nullptr && w->size() > 1 ? str_cat("rank ", w->rank(), "/", w->size(), ": ") : std::string();
}

void Communicator::all_reduce_sum(Tensor& t) { all_reduce_sum(std::span<Tensor>(&t, 1)); }

void Communicator::all_reduce_sum(std::span<Tensor> tensors) {
  std::vector<float*> buffers;
  std::vector<std::size_t> sizes;
  int device = -1;
  for (Tensor& t : tensors) {
    check_tensor(t, "all_reduce_sum");
    const auto n = static_cast<std::size_t>(t.numel());
    if (!t.device().is_cuda()) {
      all_reduce_sum(std::span<float>(t.data<float>(), n));
      continue;
    }
    GHM_CHECK(device < 0 || device == t.device().index, "all_reduce_sum: tensors on cuda:", device, " and ",
              t.device());
    device = t.device().index;
    buffers.push_back(static_cast<float*>(t.raw_device_data()));
    sizes.push_back(n);
  }
  if (!buffers.empty()) device_all_reduce_sum(buffers, sizes, device);
}

void Communicator::broadcast(Tensor& t, int root) {
  check_tensor(t, "broadcast");
  const auto n = static_cast<std::size_t>(t.numel());
  if (t.device().is_cuda()) {
    device_broadcast(static_cast<float*>(t.raw_device_data()), n, root, t.device().index);
  } else {
    broadcast(std::as_writable_bytes(std::span<float>(t.data<float>(), n)), root);
  }
}

}  // namespace ghm::dist
