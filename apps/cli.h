// The command-line conventions every command shares, on CLI11: each command declares its options
// once (type, range, default, required) on the app that make_command returns, and parse() reads
// them. In one place here:
//
//   help      `ghm_retinanet <command> --help` (or -h) prints the same layout for every command
//             (summary, "Usage:" line, "Options:" with each default, footer) and the command
//             returns 0;
//   errors    a parse error (unknown option, missing value or required option, a value out of
//             range) becomes app::UsageError "<command>: <option>: <what is wrong>", exit code 2;
//   values    a value that starts with "--" is an option name, not a value: `--gt --dt x.json`
//             is "--gt needs a value", never the ground truth "--dt";
//   numbers   integer_in / number_in accept the whole text as a finite number within bounds;
//   threads   1 .. engine::max_thread_count() (4 x the cores);
//   device    cpu, cuda or cuda:I (whether this build and machine have it is checked when the
//             command runs: engine::parse_device);
//   --set     key=value, repeatable: config overrides (engine/config.h);
//   sizes     HxW, e.g. 800x1216.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ghm::app::cli {

// An app for `ghm_retinanet <command>` (command: "train", "bench loss", ...) with the shared help
// layout and defaults shown in --help.
std::unique_ptr<CLI::App> make_command(const std::string& command, const std::string& summary);

// Parses `args` (the arguments after the command's name) into the options declared on `app`.
// Returns false after printing the help for --help (the command then returns 0); throws
// UsageError naming the command and the option for anything else that does not parse.
bool parse(CLI::App& app, const std::vector<std::string>& args);

// An integer in [low, high]; the message names the bounds ("must be in 1..1024, got -5").
CLI::Validator integer_in(std::int64_t low, std::int64_t high);

// A seed: a whole number in 0..2^64-1.
CLI::Validator seed();

// A finite number in [low, high].
CLI::Validator number_in(double low, double high);

// A finite number > 0.
CLI::Validator positive_number();

// A thread count: 1 .. engine::max_thread_count().
CLI::Validator thread_count();

// --device DEVICE (cpu, cuda or cuda:I).
CLI::Option* add_device(CLI::App& app, std::string& device);

// --set key=value, any number of times: config overrides, applied in order.
CLI::Option* add_overrides(CLI::App& app, std::vector<std::string>& overrides);

// --precision fp32|bf16|fp16: the convolutions' precision (core/precision.h), the same as
// `--set <key>=<value>` given after every --set (declare it after add_overrides). `key` is the config
// key it sets, train.precision or test.precision.
CLI::Option* add_precision(CLI::App& app, std::vector<std::string>& overrides, const std::string& key);

// --config CFG.yaml, required: the run's YAML config (docs/config.md).
CLI::Option* add_config(CLI::App& app, std::string& path);

// --checkpoint, required: a checkpoint file, or a work directory (its newest checkpoint).
CLI::Option* add_checkpoint(CLI::App& app, std::string& checkpoint);

// `name` HxW (e.g. 512x512), each side at least `min_side`; the defaults are the values the
// references hold.
CLI::Option* add_size(CLI::App& app, const std::string& name, std::int64_t& height, std::int64_t& width,
                      std::int64_t min_side, const std::string& help);

// Lets a vector option take comma-separated values (`--workers 0,1,2`) and be repeated.
CLI::Option* comma_list(CLI::Option* option);

}  // namespace ghm::app::cli
