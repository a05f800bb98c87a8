// The data-parallel side of the engine (distributed.h).
#include "engine/distributed.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>

#include "core/check.h"
#include "core/runtime_info.h"
#include "dist/gradients.h"
#include "engine/config.h"

namespace ghm::engine {
namespace {

static_assert(std::is_trivially_copyable_v<CocoResult>, "results travel between processes as bytes");

template <class T>
void append_bytes(std::string& out, const T* data, std::size_t count) {
  out.append(reinterpret_cast<const char*>(data), count * sizeof(T));
}

template <class T>
T read_bytes(const std::string& in, std::size_t& at) {
  GHM_CHECK(at + sizeof(T) <= in.size(), "gather_results: a rank's part ends early");
  T value;
  std::memcpy(&value, in.data() + at, sizeof(T));
  at += sizeof(T);
  return value;
}

}  // namespace

Device process_device(const std::string& configured, const std::string& where, const dist::Communicator& comm) {
  if (comm.size() == 1 || configured == "cpu") return parse_device(configured, where);
  GHM_CHECK(configured == "cuda", where, ": '", configured, "' names one GPU, but this job has ", comm.size(),
            " processes: write 'cuda', and each process takes the GPU of its local rank");
  // Every GPU visible: the local rank's. One GPU per process (srun --gpus-per-task, or
  // CUDA_VISIBLE_DEVICES set per rank): the one it sees.
  const auto visible = static_cast<int>(query_cuda_runtime().gpus.size());
  GHM_CHECK(visible <= 1 || comm.local_size() <= visible, where, ": ", comm.local_size(),
            " processes on this machine share ", visible, " GPUs; start one process per GPU");
  const int index = visible > 0 ? comm.local_rank() % visible : comm.local_rank();
  return parse_device("cuda:" + std::to_string(index), where + " (local rank " + std::to_string(comm.local_rank()) + ")");
}

int process_threads(int cores, int local_size) { return std::max(1, cores / std::max(1, local_size)); }

std::vector<std::int64_t> eval_shard(std::int64_t images, int batch_size, int rank, int size) {
  GHM_CHECK(batch_size >= 1 && size >= 1 && rank >= 0 && rank < size, "eval_shard: rank ", rank, " of ", size,
            ", batch size ", batch_size);
  std::vector<std::int64_t> mine;
  for (std::int64_t begin = static_cast<std::int64_t>(rank) * batch_size; begin < images;
       begin += static_cast<std::int64_t>(size) * batch_size)
    for (std::int64_t i = begin; i < std::min(images, begin + batch_size); ++i) mine.push_back(i);
  return mine;
}

// Each rank sends [batches][count per batch...][results...]; rank 0 takes batch b from rank b % size.
std::vector<CocoResult> gather_results(dist::Communicator& comm,
                                       const std::vector<std::vector<CocoResult>>& batch_results) {
  if (comm.size() == 1) {
    std::vector<CocoResult> all;
    for (const auto& batch : batch_results) all.insert(all.end(), batch.begin(), batch.end());
    return all;
  }
  std::string mine;
  const auto batches = static_cast<std::int64_t>(batch_results.size());
  append_bytes(mine, &batches, 1);
  for (const auto& batch : batch_results) {
    const auto count = static_cast<std::int64_t>(batch.size());
    append_bytes(mine, &count, 1);
  }
  for (const auto& batch : batch_results) append_bytes(mine, batch.data(), batch.size());
  const std::vector<std::string> parts = comm.all_gather(mine);
  if (comm.rank() != 0) return {};

  struct Reader {
    std::vector<std::int64_t> counts;
    std::size_t next_batch = 0, at = 0;
  };
  std::vector<Reader> readers(parts.size());
  std::int64_t total_batches = 0;
  for (std::size_t r = 0; r < parts.size(); ++r) {
    const auto n = read_bytes<std::int64_t>(parts[r], readers[r].at);
    for (std::int64_t b = 0; b < n; ++b) readers[r].counts.push_back(read_bytes<std::int64_t>(parts[r], readers[r].at));
    total_batches += n;
  }
  std::vector<CocoResult> all;
  for (std::int64_t b = 0; b < total_batches; ++b) {
    const std::string& part = parts[static_cast<std::size_t>(b) % parts.size()];
    Reader& reader = readers[static_cast<std::size_t>(b) % parts.size()];
    GHM_CHECK(reader.next_batch < reader.counts.size(), "gather_results: batch ", b, " is missing from rank ",
              b % static_cast<std::int64_t>(parts.size()));
    for (std::int64_t k = 0; k < reader.counts[reader.next_batch]; ++k)
      all.push_back(read_bytes<CocoResult>(part, reader.at));
    ++reader.next_batch;
  }
  return all;
}

ResumePoint resume_point(const std::string& work_dir, nn::Module& model, nn::Sgd& sgd,
                         detection::DetectionLossState& loss_state, dist::Communicator& comm) {
  if (comm.size() == 1) return load_newest_checkpoint(work_dir, model, sgd, loss_state);
  ResumePoint point;
  if (comm.rank() == 0) point = load_newest_checkpoint(work_dir, model, sgd, loss_state);
  const std::string chosen = comm.all_gather(point.path)[0];
  if (comm.rank() != 0) {
    point.path = chosen;
    point.info = load_checkpoint(chosen, model, sgd, loss_state, comm.rank());
  }
  return point;
}

void share_buffers(dist::Communicator& comm, const nn::Module& model) {
  if (comm.size() == 1) return;
  std::vector<Tensor> buffers;
  for (const auto& [name, t] : model.named_buffers()) buffers.push_back(t);
  dist::broadcast_state(comm, buffers);
}

std::vector<detection::DetectionLossState> gather_loss_states(dist::Communicator& comm,
                                                              const detection::DetectionLossState& mine,
                                                              const DistConfig& dist_cfg) {
  if (comm.size() == 1 || dist_cfg.ghm_counts == GhmCountScope::Sum) return {};
  std::vector<float> values = mine.cls.values();
  const std::vector<float> reg = mine.reg.values();
  values.insert(values.end(), reg.begin(), reg.end());
  const std::vector<std::string> parts =
      comm.all_gather(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  std::vector<detection::DetectionLossState> others;
  if (comm.rank() != 0) return others;
  for (std::size_t r = 1; r < parts.size(); ++r) {
    GHM_CHECK(parts[r].size() == values.size() * sizeof(float), "train: process ", r, " has other GHM bins");
    detection::DetectionLossState s = mine;
    s.cls.on_device = s.reg.on_device = false;
    std::memcpy(s.cls.acc_sum.data(), parts[r].data(), s.cls.acc_sum.size() * sizeof(float));
    std::memcpy(s.reg.acc_sum.data(), parts[r].data() + s.cls.acc_sum.size() * sizeof(float),
                s.reg.acc_sum.size() * sizeof(float));
    others.push_back(std::move(s));
  }
  return others;
}

void share_avg_factor(dist::Communicator& comm, const DistConfig& dist_cfg, detection::BatchTargets& targets) {
  if (comm.size() == 1 || dist_cfg.num_pos == NumPosScope::Rank) return;
  std::array<float, 1> v{static_cast<float>(targets.avg_factor)};
  comm.all_reduce_sum(v);
  targets.avg_factor = static_cast<double>(v[0]) / comm.size();
}

}  // namespace ghm::engine
