// A file that lives in memory (Linux memfd_create), for readers whose public API takes a path
// (io::load_safetensors, coco::load_dataset): the fuzz input is written to it, and path() names
// it ("/proc/self/fd/N") for the reader to open. No disk writes, nothing left behind.
//
//   static MemoryFile file("safetensors");
//   file.assign(data, size);
//   io::load_safetensors(file.path());
//
// One file per target, reused for every input: assign() truncates and rewrites it. Not
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ghm::fuzz {

class MemoryFile {
 public:
  explicit MemoryFile(const char* name);  // `name` shows in /proc only
  ~MemoryFile();
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  void assign(const std::uint8_t* data, std::size_t size);  // data: [size]
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace ghm::fuzz
