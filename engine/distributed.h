// What training and evaluation do differently as one of several processes of a job
// (dist/communicator.h; docs/distributed.md). Every function is the identity for a job of one.
//
//   device    "cuda" is the GPU of the process's local rank (one GPU per process);
//   threads   the machine's cores shared among the job's processes on it;
//   eval      the one-process batches of the split dealt to the ranks in turn, the detections
//             gathered to rank 0 in one-process order, so that one COCO evaluation there gives
//             exactly the numbers of a single process, for any image count and world size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "engine/inference.h"

namespace ghm::engine {

// The device of this process for a configured "cpu", "cuda" or "cuda:I" (`where` names the key
// in errors). With several processes, "cuda" becomes cuda:<local rank modulo the GPUs this
// process sees> (all of the machine's, or its own one) and "cuda:I" is refused.
Device process_device(const std::string& configured, const std::string& where, const dist::Communicator& comm);

// The compute threads of one process when `local_size` processes of the job share this machine's
// `cores`: an equal share, at least 1.
int process_threads(int cores, int local_size);

// The images (split indices, ascending) that `rank` of `size` evaluates: batches b = rank,
// rank + size, ... of the one-process plan (consecutive images, `batch_size` per batch), so that
// every image sits in the batch it would have in a single process.
std::vector<std::int64_t> eval_shard(std::int64_t images, int batch_size, int rank, int size);

// Each rank's results, batch by batch (`batch_results[i]`: the i-th batch of its shard), as one
// list on rank 0 in the order a single process would have made it; empty on the other ranks.
std::vector<CocoResult> gather_results(dist::Communicator& comm,
                                       const std::vector<std::vector<CocoResult>>& batch_results);

}  // namespace ghm::engine
