// The table of fuzz targets and the failure report of a broken property (targets.h).
#include "fuzz/targets.h"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace ghm::fuzz {

std::span<const Target> all_targets() {
  static constexpr std::array<Target, 6> targets = {{
      {"json", fuzz_json},
      {"yaml", fuzz_yaml},
      {"safetensors", fuzz_safetensors},
      {"coco_instances", fuzz_coco_instances},
      {"coco_results", fuzz_coco_results},
      {"image", fuzz_image},
  }};
  return targets;
}

void fuzz_failure(std::string_view what, const char* file, int line) {
  std::fprintf(stderr, "fuzz property violated at %s:%d: %.*s\n", file, line, static_cast<int>(what.size()),
               what.data());
  std::abort();
}

}  // namespace ghm::fuzz
