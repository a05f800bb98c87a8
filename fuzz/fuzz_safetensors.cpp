// Fuzz target: safetensors loading (io/safetensors.h). The bytes are the file; load_safetensors
// reads it from an in-memory file (memory_file.h), since its API takes a path. Property of an
// accepted file: the tensors tile the data region, so their sizes add up to the bytes after the
// header (the file's size less 8 and the header length it declares).
#include <cstring>

#include "fuzz/memory_file.h"
#include "fuzz/targets.h"
#include "io/safetensors.h"

namespace ghm::fuzz {

int fuzz_safetensors(const std::uint8_t* data, std::size_t size) {
  static MemoryFile file("safetensors");
  file.assign(data, size);
  return reject_quietly([&] {
    const io::SafetensorsData loaded = io::load_safetensors(file.path());
    std::uint64_t header_bytes = 0;
    GHM_FUZZ_REQUIRE(size >= sizeof header_bytes, "a file shorter than its header length was accepted");
    std::memcpy(&header_bytes, data, sizeof header_bytes);  // little-endian, as the reader requires
    std::uint64_t tensor_bytes = 0;
    for (const auto& [name, tensor] : loaded.tensors) {
      GHM_FUZZ_REQUIRE(loaded.contains(name) && tensor.device().is_cpu(), "a loaded tensor is not found by name");
      tensor_bytes += tensor.nbytes();
    }
    GHM_FUZZ_REQUIRE(tensor_bytes == size - sizeof header_bytes - header_bytes,
                     "the tensors' sizes do not add up to the data region");
  });
}

}  // namespace ghm::fuzz
