// Reading and writing tensors in the safetensors format (the one HuggingFace uses for weights), so
// checkpoints move between this project and PyTorch/NumPy without a converter.
//
// File layout (all integers little-endian):
//   bytes [0, 8)          u64 N, the header length
//   bytes [8, 8 + N)      UTF-8 JSON object, padded with trailing spaces:
//                           {"__metadata__": {"key": "value", ...},            (optional)
//                            "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//                            ...}
//   bytes [8 + N, EOF)    the data region: each tensor's elements, row-major, at
//                         [begin, end) relative to the region's start
//
// Loading is strict, like the reference library: every tensor's bytes must match its dtype and
// shape, and the tensors must tile the data region exactly (no overlaps, holes or trailing bytes).
// Every error names the file, and the tensor when there is one. Supported dtypes: F32, I32, I64, U8.
//
// Saving writes the tensors in the order given, packed back to back, with the header padded to a
// multiple of 8 bytes as the reference writer does. The bytes go to "<path>.tmp.<pid>", which is
// fsync'ed and then renamed over `path`, so a crash leaves either the old file or the new one.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace ghm::io {

struct SafetensorsData {
  std::string path;                                     // the file it was read from, for errors
  std::vector<std::pair<std::string, Tensor>> tensors;  // CPU tensors, in header order
  std::map<std::string, std::string> metadata;          // "__metadata__"; empty when absent

  const Tensor& at(const std::string& name) const;  // throws naming `name` and the file
  bool contains(const std::string& name) const;
};

SafetensorsData load_safetensors(const std::string& path);

// Tensors must be defined, on the CPU, and have unique names other than "__metadata__".
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace ghm::io
