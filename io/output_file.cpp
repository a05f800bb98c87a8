// The output rules of output_file.h: what a path names decides how it is written.
#include "io/output_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <set>

#include "core/check.h"

namespace ghm::io {
namespace {

std::string reason(int err) { return std::strerror(err); }

std::string folder_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The path a dangling chain of symbolic links ends at (relative targets are taken from the link's
// folder); at most 40 links, as the kernel allows.
std::string dangling_target(const std::string& path) {
  std::string current = path;
  for (int hop = 0; hop < 40; ++hop) {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink(current.c_str(), buf, sizeof buf - 1);
    if (n < 0) return current;  // not a link (any more): this is where the file goes
    const std::string target(buf, static_cast<std::size_t>(n));
    current = !target.empty() && target[0] == '/' ? target : folder_of(current) + "/" + target;
  }
  GHM_FAIL("cannot write '", path, "': more than 40 symbolic links to follow");
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

// Removes "<name>.tmp.<pid>" files of processes that no longer run, once per folder and process.
void remove_stale_temps(const std::string& folder) {
  static std::mutex mutex;
  static std::set<std::string> done;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (!done.insert(folder).second) return;
  }
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return;  // the write that follows reports the folder's problem
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    const std::size_t mark = name.rfind(".tmp.");
    if (mark == std::string::npos || mark == 0 || mark + 5 == name.size()) continue;
    const std::string digits = name.substr(mark + 5);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    ::unlink((folder + "/" + name).c_str());
  }
  ::closedir(dir);
}

void write_all(int fd, std::string_view bytes, const std::string& file) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    GHM_CHECK(n > 0, "cannot write '", file, "': ", n < 0 ? reason(errno) : std::string("no progress"));
    done += static_cast<std::size_t>(n);
  }
}

void sync_folder(const std::string& folder, const std::string& file) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  GHM_CHECK(fd >= 0, "wrote '", file, "' but cannot open its folder to sync it: ", reason(errno));
  const bool synced = ::fsync(fd) == 0 || errno == EINVAL;  // some file systems cannot sync a folder
  const int err = errno;
  ::close(fd);
  GHM_CHECK(synced, "wrote '", file, "' but cannot sync its folder: ", reason(err));
}

}  // namespace

OutputFile::OutputFile(const std::string& path) : path_(path), target_(path) {
  GHM_CHECK(!path.empty(), "cannot write a file with an empty name");
  struct stat st {};
  bool exists = ::lstat(path.c_str(), &st) == 0;
  GHM_CHECK(exists || errno == ENOENT, "cannot write '", path, "': ", reason(errno));
  if (exists && S_ISLNK(st.st_mode)) {
    if (::stat(path.c_str(), &st) == 0) {  // a link to something: what it names decides
      if (S_ISREG(st.st_mode)) {
        char real[PATH_MAX];
        GHM_CHECK(::realpath(path.c_str(), real) != nullptr, "cannot follow the link '", path, "': ", reason(errno));
        target_ = real;
      }
    } else {
      GHM_CHECK(errno == ENOENT, "cannot follow the link '", path, "': ", reason(errno));
      target_ = dangling_target(path);  // the link's target does not exist yet: create it
      exists = false;
    }
  }
  if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {  // in place: a device or a pipe
    fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    GHM_CHECK(fd_ >= 0, "cannot open '", path, "' for writing: ", reason(errno));
    return;
  }
  GHM_CHECK(!exists || S_ISREG(st.st_mode), "cannot write '", path, "': it is ", kind_of(st.st_mode),
            ", which this program never replaces");
  const std::string folder = folder_of(target_);
  GHM_CHECK(::access(folder.c_str(), W_OK | X_OK) == 0, "cannot write '", path, "': its folder '", folder,
            "' is not writable: ", reason(errno));
  remove_stale_temps(folder);
  temp_ = folder + "/" + name_of(target_) + ".tmp." + std::to_string(::getpid());
  const mode_t mode = exists ? (st.st_mode & 07777) : 0666;  // a replaced file keeps its permissions
  ::unlink(temp_.c_str());  // our own leftover from an earlier failure of this process, if any
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  GHM_CHECK(fd_ >= 0, "cannot create '", temp_, "' to write '", path, "': ", reason(errno));
  if (exists) ::fchmod(fd_, mode);  // exactly the old bits, whatever the umask
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void OutputFile::write(std::string_view bytes) {
  GHM_CHECK(fd_ >= 0 && !committed_, "write to '", path_, "' after it was committed");
  write_all(fd_, bytes, temp_.empty() ? path_ : temp_);
}

void OutputFile::commit() {
  GHM_CHECK(fd_ >= 0 && !committed_, "'", path_, "' committed twice");
  const int fd = fd_;
  fd_ = -1;
  if (temp_.empty()) {  // in place
    GHM_CHECK(::close(fd) == 0, "cannot finish writing '", path_, "': ", reason(errno));
    committed_ = true;
    return;
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_err = errno;
  const bool closed = ::close(fd) == 0;
  GHM_CHECK(synced && closed, "cannot flush '", temp_, "' to disk: ", reason(synced ? errno : sync_err));
  GHM_CHECK(::rename(temp_.c_str(), target_.c_str()) == 0, "cannot rename '", temp_, "' to '", target_, "': ",
            reason(errno));
  committed_ = true;
  sync_folder(folder_of(target_), path_);
}

void write_output(const std::string& path, std::string_view bytes) {
  OutputFile out(path);
  out.write(bytes);
  out.commit();
}

void append_output(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  GHM_CHECK(fd >= 0, "cannot open '", path, "' to append to it: ", reason(errno));
  try {
    write_all(fd, bytes, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  GHM_CHECK(::close(fd) == 0, "cannot finish appending to '", path, "': ", reason(errno));
}

}  // namespace ghm::io
