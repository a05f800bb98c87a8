// The sub-commands of the ghm_retinanet binary. Each takes the arguments after its name, declares
// its options with the conventions of apps/cli.h and returns the process exit code; usage errors
// throw UsageError (exit code 2).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ghm::app {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

int run_bench(const std::vector<std::string>& args);
int run_coco_eval(const std::vector<std::string>& args);
int run_loss(const std::vector<std::string>& args);
int run_forward(const std::vector<std::string>& args);
int run_make_shapes(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
int run_pretrain(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_detect(const std::vector<std::string>& args);
int run_plot(const std::vector<std::string>& args);
int run_analyze_gradients(const std::vector<std::string>& args);

// The version report printed by `--version`.
void print_version();

}  // namespace ghm::app
