// Data-parallel training and evaluation through the real program under mpirun (dist/,
// engine/distributed.h), against one process on the same data:
//   - 2 processes x batch 2 train to the parameters of 1 process x batch 4, within float32
//     summation-order tolerance, and log the same losses: focal loss + smooth L1 with the
//     positives' count averaged over the processes, and GHM-C + GHM-R with their bin counts summed
//     over the processes (frozen batch norm), and batch norm synchronised over the processes;
//   - with gradients sent as bf16, 2 processes move the parameters as 1 process in float32 does,
//     within bf16's rounding;
//   - a resumed 2-process run repeats the uninterrupted one's losses bit for bit, RetinaNet and
//     Faster R-CNN (its random sampling of anchors and proposals included);
//   - eval under 3 processes gives exactly one process's twelve numbers and detections, with an
//     image count (4, batch 1) that 3 does not divide, and with test-time augmentation (batch 2:
//     the third process has no image);
//   - a process that fails (an image missing from its shard) ends the whole job with its message;
//   - SIGUSR1 to mpirun stops every process after the same iteration, with one checkpoint;
//   - other commands refuse to run as several copies.
// Skipped, visibly, in a build without MPI.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "apps/commands.h"
#include "dist/communicator.h"
#include "engine/checkpoint.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tiny_detector.h"

namespace fs = std::filesystem;
using namespace ghm;

namespace {

fs::path program() { return fs::read_symlink("/proc/self/exe").parent_path() / "ghm_retinanet"; }

// Open MPI as root on a small machine: what CI needs, one thread per process. Under
// AddressSanitizer no leak check: Open MPI's plugins keep allocations to exit and are unloaded
// before LeakSanitizer looks, so their leaks cannot be told from ours (the same code runs without
// mpirun in the other suites, with the check).
constexpr const char* kMpiEnvironment =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
    "OMPI_MCA_hwloc_base_binding_policy=none OMP_NUM_THREADS=1 ASAN_OPTIONS=\"${ASAN_OPTIONS}:detect_leaks=0\"";

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `ghm_retinanet <args>` under `mpirun -np <np>` with output to `log`; the exit code, or -1
// when it did not end by itself within two minutes (a hang).
int run_parallel(int np, const std::string& args, const fs::path& log) {
  const std::string command = std::string("env ") + kMpiEnvironment + " timeout 120 " + GHM_MPIEXEC + " -np " +
                              std::to_string(np) + " " + quoted(program().string()) + " " + args + " > " +
                              quoted(log.string()) + " 2>&1";
  const int status = std::system(command.c_str());
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status) == 124 ? -1 : WEXITSTATUS(status);
}

struct Setup : testing::TinyDetector {
  Setup()
      : TinyDetector("data_parallel",
                     "  threads: 1\n"
                     "  batch_size: 4\n"
                     "  epochs: 2\n"
                     "  lr: 0.01\n"
                     "  warmup_iters: 2\n"
                     "  warmup_ratio: 0.1\n"
                     "  steps: [2]\n"
                     "  log_interval: 1\n") {}
  // Batch statistics would differ with the batch split, so the backbone's batch norm is frozen;
  // the focal loss and smooth L1 divide by the positives' mean over the processes.
  std::string sets() const {
    return "--set model.backbone.norm=frozen_bn --set loss.cls.type=focal --set loss.reg.type=sl1 "
           "--set loss.reg.loss_weight=1.0 --set dist.num_pos=mean";
  }
};

const Setup& setup() {
  static const Setup s;
  return s;
}

std::vector<double> logged_losses(const fs::path& log) {
  std::vector<double> out;
  std::istringstream in(read_text(log));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(io::Json::parse(line, log.string()).at("loss").as_double());
  return out;
}

// Trains `sets` for `epochs` (2 iterations each) as 1 process x batch 4 and as 2 processes x batch
// 2 and compares the logged losses and the final parameters (largest difference relative to
// 1e-3 + |value|).
void check_two_by_two_as_one_by_four(const std::string& tag, const std::string& sets, int epochs, double tolerance,
                                     double loss_tolerance = 1e-4) {
  const Setup& s = setup();
  const fs::path one = s.root / (tag + "_one"), two = s.root / (tag + "_two");
  const std::string base = "train --config " + quoted(s.config.string()) + " --set model.backbone.norm=frozen_bn " +
                           "--set train.epochs=" + std::to_string(epochs) + " " + sets;
  REQUIRE(run_parallel(1, base + " --work-dir " + quoted(one.string()), s.root / (tag + "_one.out")) == 0);
  REQUIRE_MESSAGE(run_parallel(2, base + " --set train.batch_size=2 --work-dir " + quoted(two.string()),
                               s.root / (tag + "_two.out")) == 0,
                  read_text(s.root / (tag + "_two.out")));
  // Rank 0 alone wrote the run's files: 2 iterations of 4 images per epoch.
  const std::vector<double> loss_one = logged_losses(one / "log.jsonl"), loss_two = logged_losses(two / "log.jsonl");
  const auto iterations = static_cast<std::size_t>(2 * epochs);
  REQUIRE(loss_one.size() == iterations);
  REQUIRE(loss_two.size() == iterations);
  for (std::size_t i = 0; i < loss_one.size(); ++i)
    CHECK(loss_two[i] == doctest::Approx(loss_one[i]).epsilon(loss_tolerance));

  const std::string last = "iter_" + std::to_string(iterations) + ".safetensors";
  const io::SafetensorsData a = io::load_safetensors((one / last).string());
  const io::SafetensorsData b = io::load_safetensors((two / last).string());
  // The same tensors, and in the 2-process checkpoint also process 1's own GHM states.
  for (const auto& [name, t] : b.tensors)
    if (!a.contains(name)) CHECK_MESSAGE((name == "ghm.cls.acc_sum.rank1" || name == "ghm.reg.acc_sum.rank1"), name);
  double worst = 0;
  std::string worst_name;
  for (const auto& [name, t] : a.tensors) {
    if (!name.starts_with("model.") && !name.starts_with("ghm.")) continue;
    const std::vector<float> x = t.to_vector<float>(), y = b.at(name).to_vector<float>();
    REQUIRE(x.size() == y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double d = std::abs(static_cast<double>(x[i]) - y[i]) / (1e-3 + std::abs(static_cast<double>(x[i])));
      if (d > worst) worst = d, worst_name = name;
    }
  }
  INFO("largest relative difference ", worst, " in ", worst_name);
  CHECK(worst < tolerance);
  CHECK(read_text(s.root / (tag + "_two.out")).find("rank 1") == std::string::npos);  // only rank 0 spoke
}

}  // namespace

TEST_CASE("data parallel: 2 processes x batch 2 train as 1 process x batch 4, focal loss and smooth L1" *
          doctest::skip(!dist::mpi_available())) {
  // Measured: 3e-6 after 4 steps.
  check_two_by_two_as_one_by_four("focal",
                                  "--set loss.cls.type=focal --set loss.reg.type=sl1 "
                                  "--set loss.reg.loss_weight=1.0 --set dist.num_pos=mean",
                                  2, 1e-4);
}

TEST_CASE("data parallel: gradients sent as bf16 move the parameters as float32 does, within bf16's rounding" *
          doctest::skip(!dist::mpi_available())) {
  // 1 process x batch 4 in float32 (it sends nothing), 2 processes x batch 2 with bf16 on the
  // wire, and the starting point (the same seed with lr 0). Each averaged gradient is within
  // 2.5 x 2^-8 (two processes) of the largest one summed (dist/gradients.h), so to first order
  // each of the 4 steps' updates is too: a tensor's difference between the runs stays below
  // 4 x 2.5 x 2^-8 = 3.9% of how far float32 training moved it.
  const Setup& s = setup();
  const std::string base = "train --config " + quoted(s.config.string()) + " " + s.sets() + " --set train.epochs=2";
  const fs::path zero = s.root / "bf16_zero", one = s.root / "bf16_one", two = s.root / "bf16_two";
  REQUIRE(run_parallel(1, base + " --set train.lr=0 --work-dir " + quoted(zero.string()), s.root / "bf16_zero.out") == 0);
  REQUIRE(run_parallel(1, base + " --work-dir " + quoted(one.string()), s.root / "bf16_one.out") == 0);
  REQUIRE_MESSAGE(run_parallel(2, base + " --set train.batch_size=2 --set dist.grad_precision=bf16 --work-dir " +
                                      quoted(two.string()), s.root / "bf16_two.out") == 0,
                  read_text(s.root / "bf16_two.out"));
  CHECK(read_text(s.root / "bf16_two.out").find("MB of bf16 per step") != std::string::npos);
  const io::SafetensorsData w0 = io::load_safetensors((zero / "iter_4.safetensors").string());
  const io::SafetensorsData w1 = io::load_safetensors((one / "iter_4.safetensors").string());
  const io::SafetensorsData w2 = io::load_safetensors((two / "iter_4.safetensors").string());
  double worst = 0;
  std::string worst_name;
  int moved = 0;
  for (const auto& [name, t] : w1.tensors) {
    if (!name.starts_with("model.")) continue;
    const std::vector<float> a = w0.at(name).to_vector<float>(), b = t.to_vector<float>(), c = w2.at(name).to_vector<float>();
    double travel = 0, apart = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      travel = std::max(travel, std::abs(static_cast<double>(b[i]) - a[i]));
      apart = std::max(apart, std::abs(static_cast<double>(c[i]) - b[i]));
    }
    if (travel == 0) {  // frozen (stem, layer 1): untouched in both runs
      CHECK_MESSAGE(apart == 0, name);
      continue;
    }
    ++moved;
    if (apart / travel > worst) worst = apart / travel, worst_name = name;
  }
  INFO("largest difference ", worst, " of float32's movement, in ", worst_name);
  CHECK(moved > 10);
  CHECK(worst < 4 * 2.5 * std::ldexp(1.0, -8));
  CHECK(worst > 0);  // the gradients did travel rounded
}

TEST_CASE("data parallel: 2 processes x batch 2 train as 1 process x batch 4, with synchronised batch norm" *
          doctest::skip(!dist::mpi_available())) {
  // syncbn in one process is batch norm over its batch of 4; in two, over both batches of 2.
  // Measured: 2e-5 after 4 steps (a running mean).
  check_two_by_two_as_one_by_four("syncbn",
                                  "--set loss.cls.type=focal --set loss.reg.type=sl1 --set loss.reg.loss_weight=1.0 "
                                  "--set dist.num_pos=mean --set model.backbone.norm=syncbn",
                                  2, 2e-4);
}

TEST_CASE("data parallel: 2 processes x batch 2 train as 1 process x batch 4, GHM-C and GHM-R with summed counts" *
          doctest::skip(!dist::mpi_available())) {
  // GHM's weights are steps in the gradient norm: an element whose norm moves across a bin edge by
  // a rounding changes its bin's weight, so runs that differ only in summation order drift apart
  // after a few steps (one process with 2 threads instead of 1: 7e-5 after 2 steps, 2e-2 after
  // 4). Hence 2 steps here (measured: 4e-5); each process's own counts instead of the sums
  // differ by 0.9 after one.
  check_two_by_two_as_one_by_four("ghm", "--set dist.ghm_counts=sum", 1, 1e-3);
}

namespace {

// Trains `sets` for 2 epochs under 2 processes, then again from the checkpoint after iteration 1.
void check_resume(const std::string& tag, const std::string& sets) {
  const Setup& s = setup();
  const fs::path full = s.root / (tag + "_full"), resumed = s.root / (tag + "_resumed");
  const std::string args = "train --config " + quoted(s.config.string()) + " " + sets +
                           " --set train.batch_size=2 --set train.checkpoint_interval=1 --set train.keep_checkpoints=10";
  REQUIRE(run_parallel(2, args + " --work-dir " + quoted(full.string()), s.root / (tag + "_full.out")) == 0);
  // The state after iteration 1 (mid-epoch), as a run stopped there would have left it.
  fs::create_directories(resumed);
  for (const char* name : {"config.json", "log.jsonl", "iter_1.safetensors"}) fs::copy(full / name, resumed / name);
  REQUIRE_MESSAGE(run_parallel(2, args + " --resume --work-dir " + quoted(resumed.string()),
                               s.root / (tag + "_resumed.out")) == 0,
                  read_text(s.root / (tag + "_resumed.out")));
  CHECK(read_text(resumed / "log.jsonl").size() > 0);
  // Bit for bit: the same losses, gradient norms and learning rates in the same text.
  const auto fields = [](const fs::path& log) {
    std::vector<std::string> out;
    std::istringstream in(read_text(log));
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const io::Json j = io::Json::parse(line, log.string());
      out.push_back(j.at("loss").dump() + " " + j.at("grad_norm").dump() + " " + j.at("lr").dump());
    }
    return out;
  };
  CHECK(fields(resumed / "log.jsonl") == fields(full / "log.jsonl"));
}

}  // namespace

TEST_CASE("data parallel: a resumed 2-process run repeats the uninterrupted run's losses exactly" *
          doctest::skip(!dist::mpi_available())) {
  check_resume("resume_focal", setup().sets());
  // The defaults: GHM-C and GHM-R with momentum, each process with its own counts and EMA states
  // (which the checkpoint keeps per process), and batch norm with each process's statistics.
  check_resume("resume_ghm", "");
}

TEST_CASE("data parallel: Faster R-CNN under 2 processes, resumed, repeats its losses exactly, sampling included" *
          doctest::skip(!dist::mpi_available())) {
  // Each process samples its anchors and proposals from a seed of (train.seed, iteration, rank), so
  // a resumed job draws what the uninterrupted one drew. GHM-R with the job's summed counts: every
  // process joins each all-reduce of the counts, with or without positives of its own.
  const std::string frcnn = "--set model.type=faster_rcnn --set model.faster_rcnn.roi.representation=64 ";
  check_resume("resume_frcnn_sl1", frcnn + setup().sets());
  check_resume("resume_frcnn_ghmr", frcnn + "--set model.faster_rcnn.roi.box_loss=ghmr --set dist.ghm_counts=sum");
}

TEST_CASE("data parallel: eval under 3 processes gives exactly one process's numbers and detections" *
          doctest::skip(!dist::mpi_available())) {
  const Setup& s = setup();
  const fs::path work = s.root / "eval_model";
  REQUIRE(app::run_train({"--config", s.config.string(), "--work-dir", work.string(), "--set", "train.epochs=1"}) == 0);
  const std::string common = "eval --config " + quoted(s.config.string()) + " --checkpoint " + quoted(work.string()) +
                             " --set test.score_thresh=0.0";
  // Plain inference one image per batch; test-time augmentation (two sizes, mirrored) two per batch,
  // so that the third process has no image.
  const std::pair<std::string, std::string> variants[] = {
      {"plain", " --set test.batch_size=1"},
      {"tta", " --set test.batch_size=2 --set test.flip=true --set test.short_sides=[128,96]"}};
  for (const auto& [name, sets] : variants) {
    CAPTURE(name);
    for (const int np : {1, 3}) {
      const std::string tag = name + "_np" + std::to_string(np);
      REQUIRE_MESSAGE(run_parallel(np, common + sets + " --json " + quoted((s.root / (tag + ".json")).string()) +
                                           " --out " + quoted((s.root / (tag + "_dets.json")).string()),
                                   s.root / (tag + ".out")) == 0,
                      read_text(s.root / (tag + ".out")));
    }
    const std::string dets = read_text(s.root / (name + "_np1_dets.json"));
    CHECK(dets.size() > 100);
    CHECK(read_text(s.root / (name + "_np3_dets.json")) == dets);
    CHECK(read_text(s.root / (name + "_np3.json")) == read_text(s.root / (name + "_np1.json")));
  }
  CHECK(read_text(s.root / "tta_np1_dets.json") != read_text(s.root / "plain_np1_dets.json"));
}

TEST_CASE("data parallel: a process that fails ends the job with its message" *
          doctest::skip(!dist::mpi_available())) {
  const Setup& s = setup();
  const fs::path data = s.root / "broken";
  fs::copy(s.data, data, fs::copy_options::recursive);
  const io::Json train = io::Json::parse(read_text(data / "train.json"), "train.json");
  const std::string missing = train.at("images").at(5).at("file_name").as_string();
  fs::remove(data / missing);
  const int code = run_parallel(2, "train --config " + quoted(s.config.string()) + " --work-dir " +
                                       quoted((s.root / "broken_run").string()) + " --set data.root=" +
                                       quoted(data.string()) + " --set train.batch_size=2",
                                s.root / "broken.out");
  const std::string out = read_text(s.root / "broken.out");
  INFO(out);
  CHECK(code > 0);  // ended, not hung (-1) and not a success
  CHECK(out.find(": error: rank ") != std::string::npos);
  CHECK(out.find(missing) != std::string::npos);
}

TEST_CASE("data parallel: commands other than train and eval refuse to run as several processes" *
          doctest::skip(!dist::mpi_available())) {
  const Setup& s = setup();
  const int code = run_parallel(2, "make-shapes --out " + quoted((s.root / "twice").string()), s.root / "twice.out");
  const std::string out = read_text(s.root / "twice.out");
  INFO(out);
  CHECK(code == 2);
  CHECK(out.find("'make-shapes' runs as one process, but a launcher started 2") != std::string::npos);
  CHECK_FALSE(fs::exists(s.root / "twice"));
}

TEST_CASE("data parallel: SIGUSR1 to mpirun stops every process after one iteration, with a checkpoint" *
          doctest::skip(!dist::mpi_available())) {
  const Setup& s = setup();
  const fs::path work = s.root / "usr1", log = work / "log.jsonl", out = s.root / "usr1.out";
  // mpirun in the background; once the run has logged, SIGUSR1 to mpirun, which passes it on.
  const std::string job = std::string("env ") + kMpiEnvironment + " " + GHM_MPIEXEC + " -np 2 " +
                          quoted(program().string()) + " train --config " + quoted(s.config.string()) +
                          " --set train.batch_size=2 --set train.epochs=100000 --work-dir " + quoted(work.string()) +
                          " > " + quoted(out.string()) + " 2>&1";
  const std::string script = job + " & pid=$!; i=0; while [ ! -s " + quoted(log.string()) +
                             " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; kill -USR1 $pid; wait $pid";
  const fs::path script_file = s.root / "usr1.sh";
  std::ofstream(script_file) << script << "\n";
  const int status = std::system(("timeout 120 sh " + quoted(script_file.string())).c_str());
  REQUIRE(WIFEXITED(status));
  const std::string text = read_text(out);
  INFO(text);
  CHECK(WEXITSTATUS(status) == 138);  // 128 + SIGUSR1, as each process exits
  CHECK(text.find("stopped by SIGUSR1: checkpoint") != std::string::npos);
  CHECK(text.find("rank 1") == std::string::npos);
  bool checkpoint = false;
  for (const auto& e : fs::directory_iterator(work)) checkpoint = checkpoint || e.path().extension() == ".safetensors";
  CHECK(checkpoint);
}
