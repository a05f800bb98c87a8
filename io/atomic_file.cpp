// Whole-file writes through a temporary file and a rename (see atomic_file.h).
#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/check.h"

namespace ghm::io {

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  GHM_CHECK(fd >= 0, "cannot create '", temp, "': ", std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      std::remove(temp.c_str());
      GHM_FAIL("cannot write '", temp, "': ", std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_err = errno;
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    std::remove(temp.c_str());
    GHM_FAIL("cannot flush '", temp, "': ", std::strerror(synced ? errno : sync_err));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(temp.c_str());
    GHM_FAIL("cannot rename '", temp, "' to '", path, "': ", std::strerror(err));
  }
}

}  // namespace ghm::io
