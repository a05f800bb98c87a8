// The data-parallel side of the engine (distributed.h).
#include "engine/distributed.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/check.h"
#include "core/runtime_info.h"
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

}  // namespace ghm::engine
