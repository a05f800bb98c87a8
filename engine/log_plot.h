// The training curves of a work directory's log.jsonl (engine/trainer.h) as one PNG, drawn by
// `ghm_retinanet plot`: the losses (loss, loss_cls, loss_reg) on top and the learning rate below,
// both against the iteration.
//
// Scales: with LogPlotScale::Auto a panel's y axis is logarithmic when all its values are positive
// and the largest is more than 50 times the smallest (a loss falling by orders of magnitude, an lr
// with warmup from 0.001x and step decays), linear otherwise.
//
// Errors name the file, and for a bad line its 1-based line number: a missing or unreadable file,
// a line that is not JSON or lacks one of the keys, a log without iterations.
#pragma once

#include <string>

namespace ghm::engine {

enum class LogPlotScale { Auto, Linear, Log };

struct LogPlotOptions {
  std::string log_path;                       // the log.jsonl that training writes
  std::string out;                            // the PNG; empty: curves.png next to the log
  LogPlotScale y_scale = LogPlotScale::Auto;  // of both panels
};

// Reads the log, writes the PNG and prints one line: the iterations logged, the last loss, the PNG.
void plot_training_log(const LogPlotOptions& options);

}  // namespace ghm::engine
