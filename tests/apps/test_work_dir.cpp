// One run per work directory (engine/trainer.h): training into a folder that holds an earlier run
// is refused and touches nothing; --overwrite deletes only that run's files (not a foreign file,
// not a symbolic link's target); retention deletes only checkpoints of the run in progress and of
// the run it resumes; --resume falls back from a truncated newest checkpoint with a warning and
// fails naming every checkpoint when none loads.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/commands.h"
#include "core/check.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/trainer.h"
#include "tiny_detector.h"

using namespace ghm;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE_MESSAGE(out.good(), path.string());
}

// Every entry of a folder (not recursive): a file's bytes, a symbolic link's target.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> entries;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    entries[name] = fs::is_symlink(e.symlink_status()) ? "-> " + fs::read_symlink(e.path()).string()
                                                         : read_bytes(e.path());
  }
  return entries;
}

std::vector<std::string> checkpoint_names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const std::string& c : engine::list_checkpoints(dir.string())) names.push_back(fs::path(c).filename().string());
  return names;
}

std::size_t log_lines(const fs::path& path) {
  std::istringstream in(read_bytes(path));
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

// What the process writes to stderr (fd 2) while the object lives.
class StderrCapture {
 public:
  explicit StderrCapture(const fs::path& file) : file_(file) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    std::FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f != nullptr);
    ::dup2(::fileno(f), 2);
    std::fclose(f);
  }
  ~StderrCapture() { restore(); }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  std::string text() {
    restore();
    return read_bytes(file_);
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  fs::path file_;
  int saved_ = -1;
};

// Two batches per epoch and a checkpoint after every iteration: epochs=2 is four iterations.
struct WorkDirSetup : testing::TinyDetector {
  WorkDirSetup()
      : TinyDetector("work_dir",
                     "  threads: 2\n"  // fixed, so resumed losses match bit for bit whatever the load
                     "  batch_size: 4\n"
                     "  epochs: 2\n"
                     "  lr: 0.01\n"
                     "  warmup_iters: 2\n"
                     "  warmup_ratio: 0.1\n"
                     "  steps: [1]\n"
                     "  log_interval: 1\n"
                     "  checkpoint_interval: 1\n"
                     "  keep_checkpoints: 100\n") {}
  engine::TrainOutcome train(const std::string& name, std::vector<std::string> overrides = {}, bool resume = false,
                             bool overwrite = false) const {
    engine::TrainOptions o;
    o.work_dir = dir(name).string();
    o.resume = resume;
    o.overwrite = overwrite;
    o.quiet = true;
    return engine::train_detector(engine::load_config(config.string(), overrides), o);
  }
  fs::path dir(const std::string& name) const { return root / name; }
};

const WorkDirSetup& setup() {
  static const WorkDirSetup s;
  return s;
}

}  // namespace

TEST_CASE("train: a used work directory is refused untouched, and --overwrite deletes only the run's files") {
  const WorkDirSetup& s = setup();
  const fs::path dir = s.dir("used");
  s.train("used", {"train.epochs=1"});
  const fs::path outside = s.root / "outside";
  fs::create_directories(outside);
  write_bytes(outside / "target.bin", "the link's target");
  write_bytes(outside / "config.json", "{}");
  write_bytes(dir / "notes.txt", "my notes");
  write_bytes(dir / "log.jsonl.tmp.12345", "left by a killed run");
  fs::create_symlink(outside / "target.bin", dir / "iter_99.safetensors");
  fs::create_symlink(outside, dir / "linked");
  const std::map<std::string, std::string> before = snapshot(dir);
  REQUIRE(before.count("config.json") == 1);
  REQUIRE(before.count("log.jsonl") == 1);
  REQUIRE(before.count("iter_2.safetensors") == 1);

  // The engine and the command refuse, naming the folder, what is there and the two ways out.
  for (int via_command = 0; via_command < 2; ++via_command) {
    CAPTURE(via_command);
    std::string what;
    try {
      if (via_command) app::run_train({"--config", s.config.string(), "--work-dir", dir.string()});
      else s.train("used");
    } catch (const Error& e) {
      what = e.what();
    }
    CAPTURE(what);
    CHECK(what.find(dir.string()) != std::string::npos);
    CHECK(what.find("config.json") != std::string::npos);
    CHECK(what.find("iter_1.safetensors") != std::string::npos);
    CHECK(what.find("--resume") != std::string::npos);
    CHECK(what.find("--overwrite") != std::string::npos);
    CHECK(snapshot(dir) == before);
  }
  CHECK_THROWS_AS(app::run_train({"--config", s.config.string(), "--work-dir", dir.string(), "--resume",
                                  "--overwrite"}),
                  app::UsageError);
  CHECK(snapshot(dir) == before);

  const engine::TrainOutcome run = s.train("used", {"train.epochs=1", "train.checkpoint_interval=0"}, false, true);
  CHECK(fs::exists(run.last_checkpoint));
  CHECK(checkpoint_names(dir) == std::vector<std::string>{"iter_2.safetensors"});  // iter_1 was the old run's
  CHECK(read_bytes(dir / "notes.txt") == "my notes");
  CHECK_FALSE(fs::exists(fs::symlink_status(dir / "log.jsonl.tmp.12345")));
  CHECK_FALSE(fs::exists(fs::symlink_status(dir / "iter_99.safetensors")));
  CHECK(read_bytes(outside / "target.bin") == "the link's target");
  CHECK(fs::is_symlink(dir / "linked"));
  CHECK(read_bytes(outside / "config.json") == "{}");
  CHECK(log_lines(dir / "log.jsonl") == 2);
}

TEST_CASE("train: retention deletes only the checkpoints of the run and of the run it resumes") {
  const WorkDirSetup& s = setup();
  const fs::path dir = s.dir("retention");
  s.train("retention", {"train.keep_checkpoints=2"});
  CHECK(checkpoint_names(dir) == std::vector<std::string>{"iter_3.safetensors", "iter_4.safetensors"});

  // A newer file that is not a checkpoint of this run (it does not load): the resumed run keeps
  // its own newest two and leaves that one alone.
  write_bytes(dir / "iter_9.safetensors", "not a checkpoint");
  engine::TrainOutcome resumed;
  {
    StderrCapture capture(s.root / "stderr.txt");
    resumed = s.train("retention", {"train.keep_checkpoints=2", "train.epochs=3"}, true);
    CHECK(capture.text().find("iter_9.safetensors") != std::string::npos);
  }
  CHECK(resumed.iterations == 6);
  CHECK(resumed.last_checkpoint == (dir / "iter_6.safetensors").string());
  CHECK(checkpoint_names(dir) ==
        std::vector<std::string>{"iter_5.safetensors", "iter_6.safetensors", "iter_9.safetensors"});
  CHECK(read_bytes(dir / "iter_9.safetensors") == "not a checkpoint");
}

TEST_CASE("train --resume: a truncated newest checkpoint falls back to the previous one with a warning") {
  const WorkDirSetup& s = setup();
  const fs::path dir = s.dir("truncated");
  s.train("truncated", {"train.epochs=1"});
  const std::string whole = read_bytes(dir / "iter_2.safetensors");
  write_bytes(dir / "iter_2.safetensors", whole.substr(0, whole.size() / 2));

  engine::TrainOutcome resumed;
  std::string warnings;
  {
    StderrCapture capture(s.root / "stderr.txt");
    resumed = s.train("truncated", {}, true);
    warnings = capture.text();
  }
  CAPTURE(warnings);
  CHECK(warnings.find("warning") != std::string::npos);
  CHECK(warnings.find("iter_2.safetensors") != std::string::npos);
  CHECK(warnings.find("iter_1.safetensors") == std::string::npos);
  CHECK(resumed.iterations == 4);
  CHECK(fs::exists(resumed.last_checkpoint));
  CHECK(log_lines(dir / "log.jsonl") == 4);  // iteration 2 was repeated, not appended twice
  CHECK(checkpoint_names(dir).size() == 4);  // iter_2 rewritten whole
  CHECK(read_bytes(dir / "iter_2.safetensors").size() == whole.size());
}

TEST_CASE("train --resume: no checkpoint that loads is an error naming each one") {
  const WorkDirSetup& s = setup();
  const fs::path dir = s.dir("unloadable");
  fs::create_directories(dir);
  write_bytes(dir / "iter_1.safetensors", "not a checkpoint");
  write_bytes(dir / "iter_2.safetensors", std::string(4, '\0'));
  std::string what;
  try {
    s.train("unloadable", {}, true);
  } catch (const Error& e) {
    what = e.what();
  }
  CAPTURE(what);
  CHECK(what.find("none of the 2 checkpoints") != std::string::npos);
  CHECK(what.find(dir.string()) != std::string::npos);
  CHECK(what.find("iter_1.safetensors") != std::string::npos);
  CHECK(what.find("iter_2.safetensors") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "config.json"));
}
