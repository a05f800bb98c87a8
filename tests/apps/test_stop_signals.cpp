// SIGINT, SIGTERM and SIGUSR1 (the one mpirun passes on as it is) stop a running `train` (the real
// binary, in its own process): the current iteration finishes, a checkpoint is written, and the
// exit code is 128 + the signal (130, 143, 138), as a shell reports a process the signal ended.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tiny_detector.h"

namespace fs = std::filesystem;

extern char** environ;

namespace {

// The command-line program, built beside the test binaries.
fs::path program() { return fs::read_symlink("/proc/self/exe").parent_path() / "ghm_retinanet"; }

bool has_logged(const fs::path& log) {
  std::error_code ec;
  return fs::exists(log, ec) && fs::file_size(log, ec) > 0;
}

// Starts `train`, sends `signal` once it has logged an iteration, and returns its exit status
// (-1 if it did not exit by itself within a minute).
int train_then_signal(const ghm::testing::TinyDetector& t, const fs::path& work_dir, int signal) {
  std::vector<std::string> args{program().string(), "train", "--config", t.config.string(), "--work-dir",
                                work_dir.string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, (work_dir.string() + ".out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // The child starts with no signal blocked and the default actions, whatever this process has.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, stops;
  sigemptyset(&none);
  sigemptyset(&stops);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGUSR1);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &stops);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0], &files, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attributes);
  REQUIRE(spawned == 0);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool exited = false;
  while (!has_logged(work_dir / "log.jsonl") && std::chrono::steady_clock::now() < deadline &&
         !(exited = ::waitpid(pid, &status, WNOHANG) == pid))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (exited || !has_logged(work_dir / "log.jsonl")) {
    if (!exited) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
    FAIL("train logged no iteration before " << (exited ? "exiting" : "the deadline") << "; see "
                                                    << work_dir.string() << ".out");
  }
  ::kill(pid, signal);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline + std::chrono::seconds(60)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

bool has_checkpoint(const fs::path& work_dir) {
  for (const auto& e : fs::directory_iterator(work_dir))
    if (e.path().extension() == ".safetensors") return true;
  return false;
}

}  // namespace

TEST_CASE("train: SIGTERM exits with 143, SIGINT with 130 and SIGUSR1 with 138, each after writing a checkpoint") {
  REQUIRE(fs::exists(program()));
  const ghm::testing::TinyDetector t("stop_signals", "  batch_size: 2\n  epochs: 10000\n  log_interval: 1\n");
  const fs::path term = t.root / "term", interrupt = t.root / "int", user = t.root / "usr1";
  CHECK(train_then_signal(t, term, SIGTERM) == 143);
  CHECK(has_checkpoint(term));
  CHECK(train_then_signal(t, interrupt, SIGINT) == 130);
  CHECK(has_checkpoint(interrupt));
  CHECK(train_then_signal(t, user, SIGUSR1) == 138);
  CHECK(has_checkpoint(user));
}
