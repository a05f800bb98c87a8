// `ghm_retinanet pretrain`: model.backbone trained as an image classifier on the synthetic
// classification set (io/shape_classification.h), our stand-in for ImageNet pretraining; the
// body's weights go where a detector config loads them (train.init_weights).
//
//   generate pretrain.train_images + val_images images (in memory, in parallel, from the seed)
//   per iteration: the next batch_size images of the epoch's seeded order, each flipped
//     horizontally with probability 0.5, normalised with data.mean / data.std (the detector's)
//     -> ResNetClassifier (nn/classifier.h) -> softmax cross-entropy, mean over the batch
//     -> backward -> SGD step with the scheduled lr (warmup, steps at epochs, as train's)
//   after each epoch: top-1 accuracy on the held-out images, in evaluation mode
//
// The classifier trains every stage and its batch norms (model.backbone.norm and frozen_stages
// are fine-tuning settings: a detector's frozen batch norm then uses the running statistics learnt
// here). A last partial batch of an epoch is dropped, so every step sees batch_size images.
//
// Work directory (one run per folder; --overwrite replaces an earlier run's files, engine/work_dir.h):
//   config.json             the resolved config
//   log.jsonl               per log interval and at the end of each epoch: iteration, epoch, lr,
//                           loss, accuracy (of the training batches since the last line), time
//                           (s per iteration), images_per_s
//   eval.jsonl              per epoch: epoch, iteration, accuracy, per_class
//   classifier.safetensors  the whole classifier (backbone.* and fc.*), after the last epoch
//   backbone.safetensors    the body alone, "backbone.*" float32 tensors sorted by name, as
//                           tools/convert_torchvision.py writes an ImageNet backbone, with metadata
//                           source "ghm_retinanet pretrain", the architecture, classes, image size,
//                           epochs, seed, iterations, final_loss, train_accuracy, val_accuracy
// Reuse (--reuse): when the folder holds a backbone.safetensors that loads and a config.json that
// asked for the same pretraining (the pretrain section but threads, log_interval and device; the
// body's depth, groups, widths; data.mean and data.std: what decides the weights), nothing is
// trained: the outcome comes from the weights' metadata and reused is set. Otherwise the run goes
// on as without it (with overwrite, replacing an earlier run of another config).
// Exactness: images, initialisation, order and flips are functions of pretrain.seed, so a run on
// the CPU with a fixed thread count repeats bit for bit.
#pragma once

#include <cstdint>
#include <string>

#include "io/json.h"

namespace ghm::engine {

struct PretrainOptions {
  std::string work_dir;
  bool overwrite = false;  // delete an earlier run's files first
  bool reuse = false;      // a finished run of the same config in the folder is kept and reported, not redone
  bool quiet = false;      // no console progress lines (tests)
};

struct PretrainOutcome {
  std::int64_t iterations = 0;
  double final_loss = 0;       // mean loss of the last logged interval
  double train_accuracy = 0;   // of the training batches of the last logged interval
  double val_accuracy = 0;     // after the last epoch (0 without held-out images)
  std::string backbone_path;   // <work_dir>/backbone.safetensors
  bool reused = false;         // an earlier run's files were kept (PretrainOptions::reuse)
};

PretrainOutcome pretrain_backbone(const io::Json& config, const PretrainOptions& options);

}  // namespace ghm::engine
