// The MPI backend of communicator.h, with NCCL for CUDA tensors when built with it (nccl_context.h).
#pragma once

#include <memory>

#include "dist/communicator.h"

namespace ghm::dist {

// Starts MPI (MPI_Init_thread, main thread calls only) unless it runs already, on a copy of
// MPI_COMM_WORLD whose errors come back as ghm::Error. Fails when !mpi_available().
std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace ghm::dist
