// The output rules (io/output_file.h): a regular file is replaced atomically and keeps its mode, a
// link is followed and stays a link, a device or a FIFO is written in place and never replaced,
// a directory or a socket is refused, a failed write leaves the old file and no temporary file,
// and temporary files of dead writers are cleaned up. Device nodes are made with mknod in the
// test's own folder (root only; elsewhere that case says it was skipped).
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "core/check.h"
#include "io/output_file.h"
#include "file_size_limit.h"
#include "scratch_dir.h"

namespace fs = std::filesystem;
using ghm::io::append_output;
using ghm::io::OutputFile;
using ghm::io::write_output;
using ghm::testing::read_file;
using ghm::testing::ScratchDir;

namespace {

std::string error_of(const std::string& path, const std::string& bytes) {
  try {
    write_output(path, bytes);
  } catch (const ghm::Error& e) {
    return e.what();
  }
  return "";
}

bool has_temp_file(const ScratchDir& dir) {
  const auto names = dir.entries();
  return std::any_of(names.begin(), names.end(), [](const std::string& n) { return n.find(".tmp.") != std::string::npos; });
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode;
}

}  // namespace

TEST_CASE("output: a new or regular file is replaced whole, keeps its mode, and leaves no temporary file") {
  ScratchDir dir("output");
  const std::string path = dir.file("out.json");
  write_output(path, "first");
  CHECK(read_file(path) == "first");
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  write_output(path, "second, longer");
  CHECK(read_file(path) == "second, longer");
  CHECK((mode_of(path) & 07777) == 0600);
  CHECK_FALSE(has_temp_file(dir));

  OutputFile abandoned(path);  // written but not committed: the old file stays
  abandoned.write("half");
  { OutputFile gone(dir.file("never.json")); }
  CHECK(read_file(path) == "second, longer");
  CHECK_FALSE(fs::exists(dir.file("never.json")));
}

TEST_CASE("output: a symbolic link is followed and stays a link, a dangling one gets its target") {
  ScratchDir dir("output");
  const std::string target = dir.write("target.txt", "old");
  fs::create_directory(dir.path() / "links");
  const std::string link = dir.file("links/out.txt");
  fs::create_symlink("../target.txt", link);
  write_output(link, "new");
  CHECK(fs::is_symlink(link));
  CHECK(read_file(target) == "new");

  const std::string dangling = dir.file("dangling.txt");
  fs::create_symlink("created.txt", dangling);
  write_output(dangling, "made");
  CHECK(fs::is_symlink(dangling));
  CHECK(read_file(dir.file("created.txt")) == "made");
}

TEST_CASE("output: a device node is written in place, never replaced, and its errors are reported") {
  ScratchDir dir("output");
  const std::string null_node = dir.file("null"), full_node = dir.file("full");
  if (::mknod(null_node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0 ||
      ::mknod(full_node.c_str(), S_IFCHR | 0666, makedev(1, 7)) != 0) {
    MESSAGE("skipped: mknod needs root (", std::strerror(errno), ")");
    return;
  }
  write_output(null_node, "discarded");
  CHECK(S_ISCHR(mode_of(null_node)));
  const std::string message = error_of(full_node, "no room");
  CHECK(message.find("cannot write '" + full_node + "'") != std::string::npos);
  CHECK(message.find(std::strerror(ENOSPC)) != std::string::npos);
  CHECK(S_ISCHR(mode_of(full_node)));
  CHECK_FALSE(has_temp_file(dir));
}

TEST_CASE("output: a FIFO is written in place") {
  ScratchDir dir("output");
  const std::string fifo = dir.file("pipe");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string received;
  std::thread reader([&] { received = read_file(fifo); });
  write_output(fifo, "through the pipe");
  reader.join();
  CHECK(received == "through the pipe");
  CHECK(S_ISFIFO(mode_of(fifo)));
}

TEST_CASE("output: a directory or a socket is refused, with what it is") {
  ScratchDir dir("output");
  fs::create_directory(dir.path() / "folder");
  CHECK(error_of(dir.file("folder"), "x").find("it is a directory, which this program never replaces") !=
        std::string::npos);
  CHECK(fs::is_directory(dir.file("folder")));

  const std::string socket_path = dir.file("sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(socket_path.size() < sizeof address.sun_path);
  std::strcpy(address.sun_path, socket_path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  CHECK(error_of(socket_path, "x").find("it is a socket") != std::string::npos);
  ::close(fd);
  CHECK_FALSE(has_temp_file(dir));
}

TEST_CASE("output: a write past the file-size limit fails with the reason and keeps the old file") {
  ScratchDir dir("output");
  const std::string path = dir.write("kept.bin", "old contents");
  std::string message;
  {
    const ghm::testing::FileSizeLimit limit(4096);
    message = error_of(path, std::string(10000, 'x'));
  }
  CHECK(message.find(std::strerror(EFBIG)) != std::string::npos);
  CHECK(read_file(path) == "old contents");
  CHECK_FALSE(has_temp_file(dir));
}

TEST_CASE("output: temporary files of writers that no longer run are removed, others are kept") {
  ScratchDir dir("output");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);  // a process id that no longer runs
  const std::string stale = dir.write("a.json.tmp." + std::to_string(child), "killed mid-write");
  const std::string live = dir.write("b.json.tmp.1", "pid 1 runs");
  const std::string other = dir.write("notes.tmp.txt", "not ours");
  write_output(dir.file("c.json"), "{}");
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other));
}

TEST_CASE("output: appending adds to the end and reports a path it cannot append to") {
  ScratchDir dir("output");
  const std::string log = dir.file("log.jsonl");
  append_output(log, "{\"a\": 1}\n");
  append_output(log, "{\"a\": 2}\n");
  CHECK(read_file(log) == "{\"a\": 1}\n{\"a\": 2}\n");
  fs::create_directory(dir.path() / "dir.jsonl");
  std::string message;
  try {
    append_output(dir.file("dir.jsonl"), "x");
  } catch (const ghm::Error& e) {
    message = e.what();
  }
  CHECK(message.find("cannot open '" + dir.file("dir.jsonl") + "' to append to it") != std::string::npos);
}
