// What training and evaluation do differently as one of several processes of a job
// (dist/communicator.h; docs/distributed.md). Every function is the identity for a job of one.
//
//   device    "cuda" is the GPU of the process's local rank (one GPU per process);
//   threads   the machine's cores shared among the job's processes on it;
//   training  one checkpoint for every process, shared buffers, per-process GHM states, the
//             positives' normaliser (below);
//   eval      the one-process batches of the split dealt to the ranks in turn, the detections
//             gathered to rank 0 in one-process order, so that one COCO evaluation there gives
//             exactly the numbers of a single process, for any image count and world size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detection/retinanet/loss.h"
#include "detection/targets.h"
#include "dist/communicator.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/inference.h"

namespace ghm::engine {

// The device of this process for a configured "cpu", "cuda" or "cuda:I" (`where` names the key
// in errors). With several processes, "cuda" becomes cuda:<local rank modulo the GPUs this
// process sees> (all of the machine's, or its own one) and "cuda:I" is refused, as are more
// processes on a machine than the GPUs they see (unless each sees one).
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

// ---- training -----------------------------------------------------------------------------------

// The newest checkpoint of `work_dir` that loads. In a job of several processes rank 0 picks it and
// every other process loads that same file (with its own GHM states when the file has them), so no
// process can continue from another iteration; a process that cannot load it ends the job.
ResumePoint resume_point(const std::string& work_dir, nn::Module& model, nn::Sgd& sgd,
                         detection::DetectionLossState& loss_state, dist::Communicator& comm);

// Rank 0's buffers (batch norm's running statistics) to every process, before a checkpoint and so
// before an evaluation: with norm: bn each process updates them from its own share of the batch.
// They do not enter a training step (batch statistics do), so the run itself is unchanged, and
// every process continues from, and evaluates with, what the checkpoint holds.
void share_buffers(dist::Communicator& comm, const nn::Module& model);

// With dist.ghm_counts: rank each process keeps its own GHM EMA states: rank 0 receives the
// others' (process r at [r - 1]) for the checkpoint. Empty for one process or summed counts.
std::vector<detection::DetectionLossState> gather_loss_states(dist::Communicator& comm,
                                                              const detection::DetectionLossState& mine,
                                                              const DistConfig& dist_cfg);

// The focal/CE/SL1/ASL1 normaliser of a data-parallel step: this process's own, or (num_pos: mean)
// the mean over the processes, with which the averaged gradient equals one process's over the
// whole batch.
void share_avg_factor(dist::Communicator& comm, const DistConfig& dist_cfg, detection::BatchTargets& targets);

}  // namespace ghm::engine
