// Every file this program writes goes through here, so that no output ever destroys what is not
// ours to replace. What happens depends on what the path names now:
//
//   nothing yet, or a regular file   the bytes go to "<name>.tmp.<pid>" in the same folder, which is
//                                    flushed, fsync'ed and renamed over the path (a reader or a
//                                    crash sees the old file or the whole new one); a replaced
//                                    file keeps its permission bits; the folder is synced
//   a symbolic link                  followed (through any chain of links), and its final target is
//                                    replaced as above: the link itself stays; a dangling link's
//                                    target is created
//   a character device or a FIFO     written in place (/dev/null, /dev/stdout, a pipe), never replaced
//   a directory, a socket or a       refused with an error naming the path and what it is
//   block device
//
// Every write, flush, sync, close and rename is checked; an error names the path and the system's
// reason, removes the temporary file and leaves the old file as it was. A temporary file of ours
// left by a process that no longer runs (killed mid-write) is removed the first time this process
// writes into that folder. Appending (a JSON-lines log) opens the file with O_APPEND and checks
// each write and the close.
//
// SIGXFSZ and SIGPIPE should be ignored by the program (apps/main.cpp does): a write past the
// file-size limit or into a closed pipe then fails with EFBIG or EPIPE and is reported here,
// instead of killing the process without a word.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ghm::io {

// One output being written. Nothing is visible at `path` (for a replaced file) until commit();
// destroyed without commit(), it removes its temporary file and never touches `path`.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(std::string_view bytes);
  void write(const void* data, std::size_t bytes) { write(std::string_view(static_cast<const char*>(data), bytes)); }
  void commit();

  const std::string& path() const { return path_; }  // as the caller gave it, for messages

 private:
  std::string path_;    // as given
  std::string target_;  // the file that is replaced or written in place (a link's final target)
  std::string temp_;    // empty when writing in place
  int fd_ = -1;
  bool committed_ = false;
};

// The whole of `bytes` as the file at `path`, by the rules above.
void write_output(const std::string& path, std::string_view bytes);

// `bytes` appended to the file at `path` (created if missing).
void append_output(const std::string& path, std::string_view bytes);

}  // namespace ghm::io
