// Whether a launcher started this process as one of several, read from the environment it sets:
//
//   OMPI_COMM_WORLD_SIZE / _RANK    Open MPI's mpirun
//   PMI_SIZE / PMI_RANK             MPICH's and Intel MPI's hydra, Slurm's srun --mpi=pmi2
//   SLURM_STEP_NUM_TASKS / PROCID   Slurm's srun (a job step; a batch script alone is not one)
//
// The first pair found wins. This is read before MPI starts: a process that no launcher started
// runs alone without touching MPI, and a binary built without MPI can refuse to run as one of
// several copies that would each train alone.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace ghm::dist {

struct Launch {
  int world_size = 1;
  int rank = 0;
  std::string size_variable;  // the variable the size came from, for messages
};

using Getenv = std::function<const char*(const char*)>;

// The launch this process belongs to, or nullopt when no launcher's variables are set. A set but
// malformed value (not a number, size < 1, rank outside [0, size)) is an error naming the variable.
std::optional<Launch> detect_launch(const Getenv& getenv);
std::optional<Launch> detect_launch();  // from the process environment

// Throws, saying what to do, when `launch` has several processes but the binary was built without
// MPI (each copy would train alone on all the data).
void check_launch(const std::optional<Launch>& launch, bool built_with_mpi);

}  // namespace ghm::dist
