// The launcher's variables (dist/launch.h): which launcher, the size and rank, and clear errors for
// malformed values.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "core/check.h"
#include "dist/launch.h"

namespace {

using ghm::dist::detect_launch;

ghm::dist::Getenv env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

std::string error_of(std::map<std::string, std::string> vars) {
  try {
    detect_launch(env(std::move(vars)));
  } catch (const ghm::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("launch: no launcher's variables means one process") {
  CHECK_FALSE(detect_launch(env({})).has_value());
  CHECK_FALSE(detect_launch(env({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}})).has_value());  // a batch script
}

TEST_CASE("launch: mpirun, hydra and srun set the size and rank") {
  const auto ompi = detect_launch(env({{"OMPI_COMM_WORLD_SIZE", "3"}, {"OMPI_COMM_WORLD_RANK", "2"}}));
  REQUIRE(ompi.has_value());
  CHECK(ompi->world_size == 3);
  CHECK(ompi->rank == 2);
  CHECK(ompi->size_variable == "OMPI_COMM_WORLD_SIZE");
  const auto pmi = detect_launch(env({{"PMI_SIZE", "8"}, {"PMI_RANK", "5"}}));
  REQUIRE(pmi.has_value());
  CHECK(pmi->world_size == 8);
  CHECK(pmi->rank == 5);
  const auto slurm = detect_launch(env({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "1"}}));
  REQUIRE(slurm.has_value());
  CHECK(slurm->world_size == 2);
  CHECK(slurm->size_variable == "SLURM_STEP_NUM_TASKS");
  // mpirun inside a Slurm step: Open MPI's own variables win.
  const auto both = detect_launch(env({{"SLURM_STEP_NUM_TASKS", "1"}, {"SLURM_PROCID", "0"},
                                       {"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_RANK", "3"}}));
  REQUIRE(both.has_value());
  CHECK(both->world_size == 4);
}

TEST_CASE("launch: a binary without MPI refuses to run as one of several processes") {
  const ghm::dist::Launch two{2, 1, "OMPI_COMM_WORLD_SIZE"};
  try {
    ghm::dist::check_launch(two, false);
    FAIL("no error");
  } catch (const ghm::Error& e) {
    CHECK(std::string(e.what()).find("built without MPI") != std::string::npos);
    CHECK(std::string(e.what()).find("one of 2 processes (OMPI_COMM_WORLD_SIZE=2)") != std::string::npos);
  }
  CHECK_NOTHROW(ghm::dist::check_launch(two, true));
  CHECK_NOTHROW(ghm::dist::check_launch(ghm::dist::Launch{1, 0, "PMI_SIZE"}, false));
  CHECK_NOTHROW(ghm::dist::check_launch(std::nullopt, false));
}

TEST_CASE("launch: malformed variables are errors naming the variable") {
  CHECK(error_of({{"OMPI_COMM_WORLD_SIZE", "two"}, {"OMPI_COMM_WORLD_RANK", "0"}}).find(
            "OMPI_COMM_WORLD_SIZE='two' is not a whole number") != std::string::npos);
  CHECK(error_of({{"PMI_SIZE", "2"}}).find("set PMI_SIZE=2 but not PMI_RANK") != std::string::npos);
  CHECK(error_of({{"PMI_SIZE", "2"}, {"PMI_RANK", "2"}}).find("PMI_RANK=2 is outside [0, 2)") != std::string::npos);
  CHECK(error_of({{"PMI_SIZE", "0"}, {"PMI_RANK", "0"}}).find("PMI_SIZE=0 is not a process count") !=
        std::string::npos);
  CHECK(error_of({{"PMI_SIZE", "2 "}, {"PMI_RANK", "0"}}).find("is not a whole number") != std::string::npos);
}
