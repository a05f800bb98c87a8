// The launcher's variables (launch.h).
#include "dist/launch.h"

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/check.h"

namespace ghm::dist {
namespace {

int parse_count(const char* name, const char* text) {
  int value = 0;
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, value);
  GHM_CHECK(ec == std::errc() && ptr == end && ptr != text, "the launcher's variable ", name, "='", text,
            "' is not a whole number");
  return value;
}

}  // namespace

std::optional<Launch> detect_launch(const Getenv& getenv) {
  static constexpr const char* kPairs[][2] = {
      {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"},
      {"PMI_SIZE", "PMI_RANK"},
      {"SLURM_STEP_NUM_TASKS", "SLURM_PROCID"},
  };
  for (const auto& [size_name, rank_name] : kPairs) {
    const char* size = getenv(size_name);
    if (size == nullptr) continue;
    const char* rank = getenv(rank_name);
    GHM_CHECK(rank != nullptr, "the launcher set ", size_name, "=", size, " but not ", rank_name);
    Launch launch{parse_count(size_name, size), parse_count(rank_name, rank), size_name};
    GHM_CHECK(launch.world_size >= 1, "the launcher's variable ", size_name, "=", size, " is not a process count");
    GHM_CHECK(launch.rank >= 0 && launch.rank < launch.world_size, "the launcher's variable ", rank_name, "=", rank,
              " is outside [0, ", launch.world_size, ")");
    return launch;
  }
  return std::nullopt;
}

void check_launch(const std::optional<Launch>& launch, bool built_with_mpi) {
  if (!launch || built_with_mpi) return;
  GHM_CHECK(launch->world_size == 1, "this ghm_retinanet was built without MPI (GHM_MPI=OFF, or no MPI found when "
            "it was built), but a launcher started it as one of ", launch->world_size, " processes (",
            launch->size_variable, "=", launch->world_size, "): each would train alone. Install libopenmpi-dev and "
            "rebuild, or start one process");
}

std::optional<Launch> detect_launch() {
  return detect_launch([](const char* name) { return std::getenv(name); });
}

}  // namespace ghm::dist
