// The training loop of `ghm_retinanet train`:
//
//   per iteration: batch from the loader -> model forward (training mode) -> batch targets
//   (detection/targets.h) -> detection loss (GHM-C / focal / CE + GHM-R / SL1 / ASL1) ->
//   backward -> clip the global gradient norm -> SGD step with the scheduled lr
//
// The work directory receives: config.json (the resolved config), log.jsonl (one JSON object per
// logged iteration: iteration, epoch, lr, loss, loss_cls, loss_reg, grad_norm, time, data_time,
// comm_time, memory_mb, threads, processes), iter_<N>.safetensors checkpoints (engine/checkpoint.h; the newest keep_checkpoints of
// this run are kept, the only ones retention ever deletes) and, with periodic evaluation,
// eval.jsonl. The console gets a progress line per log interval with the ETA and images/s.
//
// One run per work directory: a folder that already holds any of those files is refused unless
// the run continues it (resume) or replaces it (overwrite: those files and their "<name>.tmp.<pid>"
// temporaries are deleted first, symbolic links as links; nothing else in the folder is touched).
// A resume loads the newest checkpoint that loads, warning on stderr about each newer one that
// does not (a truncated file), and counts the checkpoints up to it as the run's own.
//
// Exactness: data order and augmentation are functions of (seed, epoch, index); the model is
// initialised from the seed; a resumed run restores the model, SGD momentum, GHM EMA state and the
// position in the epoch, so on the CPU it repeats the uninterrupted run's losses bit for bit.
//
// Several processes (mpirun, srun; engine/distributed.h, docs/distributed.md): every process
// starts from rank 0's weights, trains on its share of each batch (train.batch_size images; the
// batch of the job is processes x that), and averages the gradients with the others before
// clipping, so all take the same step; the logged losses are the means over the processes; rank 0
// alone writes the work directory and the console; a stop signal to any process stops all of them
// after the same iteration.
//
// Failures: a non-finite loss term or gradient norm stops the run with an error naming the
// iteration and the term; no checkpoint is written after the last good one. SIGINT, SIGTERM and
// SIGUSR1 finish the current iteration, write a checkpoint and return with the signal in
// stop_signal (the command then exits with 128 + the signal: 130, 143 and 138, as the signal
// itself would).
#pragma once
#include <cstdint>
#include <string>

#include "io/json.h"

namespace ghm::engine {

struct TrainOptions {
  std::string work_dir;
  bool resume = false;
  bool overwrite = false;  // delete an earlier run's files first (not with resume)
  bool quiet = false;      // no console progress lines (tests)
};

struct TrainOutcome {
  std::int64_t iterations = 0;  // completed, in total
  int stop_signal = 0;          // SIGINT or SIGTERM when a signal stopped the run (a checkpoint was written)
  std::string last_checkpoint;
  double final_loss = 0;        // the mean loss of the last logged interval
};

TrainOutcome train_detector(const io::Json& config, const TrainOptions& options);

}  // namespace ghm::engine
