// Training checkpoints: everything a run needs to continue exactly where it stopped, in one
// safetensors file (io/safetensors.h, written to a temporary file, fsync'ed and renamed).
//
//   tensors   "model.<name>"               the model's parameters and buffers (nn::Module::state)
//             "optim.momentum.<name>"      SGD momentum buffers (nn::Sgd::state)
//             "ghm.cls.acc_sum" [bins]     the GHM-C EMA state
//             "ghm.reg.acc_sum" [bins]     the GHM-R EMA state
//             "ghm.cls.acc_sum.rank<r>"    a data-parallel job's other processes' GHM states, when
//             "ghm.reg.acc_sum.rank<r>"    each process keeps its own (dist.ghm_counts: rank)
//   metadata  "format"       "ghm_retinanet.checkpoint.v1"
//             "iteration"    iterations completed
//             "epoch"        the epoch in progress (0-based)
//             "epoch_batch"  batches of that epoch already consumed
//             "loss_scale", "loss_scale_good_steps"   the loss scaler's state (runs that scale)
//             "config"       the resolved config (JSON), for eval/detect and for checking a resume
//
// The data order and augmentation are pure functions of (seed, epoch, sample index), and the model
// was initialised before the first step, so these values are the whole state of a CPU run.
// A model-only file (e.g. converted weights) has no "format" key and is read by load_model_weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "detection/retinanet/loss.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace ghm::engine {

struct TrainProgress {
  std::int64_t iteration = 0;
  std::int64_t epoch = 0;
  std::int64_t epoch_batch = 0;
  double loss_scale = 0;                // the loss scaler's (nn/grad_scaler.h); 0: none recorded
  std::int64_t loss_scale_good_steps = 0;
};

// other_ranks[r - 1]: process r's GHM states in a job whose processes each keep their own (empty
// otherwise); saved as the ".rank<r>" tensors.
void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Sgd& sgd,
                     const detection::DetectionLossState& loss_state, const TrainProgress& progress,
                     const std::string& config_json,
                     const std::vector<detection::DetectionLossState>& other_ranks = {});

struct CheckpointInfo {
  TrainProgress progress;
  std::string config_json;  // "" for a model-only file
};

// Restores all of the above (strict: every tensor must match). Errors name the file. `rank` > 0
// takes that process's GHM states where the file has them (else rank 0's).
CheckpointInfo load_checkpoint(const std::string& path, nn::Module& model, nn::Sgd& sgd,
                               detection::DetectionLossState& loss_state, int rank = 0);

// The model part only, from a checkpoint ("model." names) or a plain weights file (our names).
// strict: every model tensor must be present (eval, detect); non-strict reports what was loaded
// (init_weights for a backbone).
nn::LoadReport load_model_weights(const std::string& path, nn::Module& model, nn::Strict strict);

// The config stored in a checkpoint ("" when it has none).
std::string checkpoint_config(const std::string& path);

// A checkpoint path as given by the user: a file, or a work directory (its newest checkpoint).
std::string resolve_checkpoint(const std::string& path);

// Checkpoints of a work directory: "<dir>/iter_<N>.safetensors", sorted by N.
std::vector<std::string> list_checkpoints(const std::string& work_dir);

// N for a file name (or path) "iter_<N>.safetensors"; -1 for any other name.
std::int64_t checkpoint_iteration(const std::string& path);

struct ResumePoint {
  std::string path;                  // the checkpoint that was loaded
  CheckpointInfo info;
  std::vector<std::string> skipped;  // "<path>: <why>" for each newer checkpoint that does not load
};

// Loads the newest checkpoint of a work directory that loads (load_checkpoint), trying the newest
// first: a truncated or corrupt newer file is skipped and reported. Fails naming the folder when it
// holds no checkpoint or none of them loads (each with its reason).
ResumePoint load_newest_checkpoint(const std::string& work_dir, nn::Module& model, nn::Sgd& sgd,
                                   detection::DetectionLossState& loss_state);

}  // namespace ghm::engine
