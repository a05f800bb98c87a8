// `ghm_retinanet loss` against the PyTorch implementation of the reference semantics
// (tools/ghm_reference.py): for every fixture pair tests/data/losses_<case>.{in,out}.safetensors
// made by tools/make_fixtures_losses.py, run the command with the options stored in the input's
// metadata and compare every output tensor.
//
// Tolerances (why): both sides compute in float32 but sum in different orders (we accumulate the
// loss in double, PyTorch in float32 pairwise), so losses agree to ~1e-6 relative: rtol 1e-5.
// Gradients and weights are per element; a sigmoid or sqrt rounded one ulp differently can move
// an element whose g lies within an ulp of a bin edge to the neighbouring bin, changing its weight
// (and the counts by one). The fixtures include such elements on purpose; we require exact bin
// counts except for at most kEdgeMoves moved elements per step, and normalised errors of 1e-5 on
// all elements whose weights agree.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/runtime_info.h"
#include "io/safetensors.h"
#include "test_paths.h"

using namespace ghm;

namespace {

constexpr std::int64_t kEdgeMoves = 4;

std::vector<std::string> split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<std::string> fixture_cases() {
  std::vector<std::string> cases;
  for (const auto& e : std::filesystem::directory_iterator(::ghm::testing::test_data_dir())) {
    const std::string name = e.path().filename().string();
    const std::string suffix = ".in.safetensors";
    if (name.starts_with("losses_") && name.ends_with(suffix)) cases.push_back(name.substr(0, name.size() - suffix.size()));
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

// Elementwise comparison, skipping elements the mask excludes; returns the normalised error.
double normalised_error(const Tensor& ours, const Tensor& ref, const std::vector<bool>& skip) {
  const float* a = ours.data<float>();
  const float* b = ref.data<float>();
  double err = 0, scale = 1e-30;
  for (std::int64_t i = 0; i < ref.numel(); ++i) scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  for (std::int64_t i = 0; i < ref.numel(); ++i)
    if (skip.empty() || !skip[static_cast<std::size_t>(i)]) err = std::max(err, static_cast<double>(std::abs(a[i] - b[i])));
  return err / std::max(scale, 1e-30);
}

}  // namespace

TEST_CASE("loss command: agrees with the PyTorch reference on every fixture") {
  const std::vector<std::string> cases = fixture_cases();
  REQUIRE(cases.size() >= 10);
  const auto tmp = std::filesystem::temp_directory_path() / ("ghm_loss_cmd_" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  for (const std::string& c : cases) {
    CAPTURE(c);
    const std::string in = ::ghm::testing::test_data_dir() + "/" + c + ".in.safetensors";
    const std::string ref_path = ::ghm::testing::test_data_dir() + "/" + c + ".out.safetensors";
    const std::string out = (tmp / (c + ".out.safetensors")).string();
    const io::SafetensorsData input = io::load_safetensors(in);
    std::vector<std::string> args = split(input.metadata.at("options"));
    args.insert(args.end(), {"--in", in, "--out", out});
    REQUIRE(app::run_loss(args) == 0);
    const io::SafetensorsData ours = io::load_safetensors(out), ref = io::load_safetensors(ref_path);

    const std::vector<float> lo = ours.at("loss").to_vector<float>(), lr = ref.at("loss").to_vector<float>();
    REQUIRE(lo.size() == lr.size());
    for (std::size_t i = 0; i < lr.size(); ++i) CHECK(lo[i] == doctest::Approx(lr[i]).epsilon(1e-5).scale(1e-6));

    for (int k = 0; ref.contains("grad." + std::to_string(k)); ++k) {
      const std::string s = "." + std::to_string(k);
      CAPTURE(k);
      std::vector<bool> moved;
      if (ref.contains("num_in_bin" + s)) {
        const auto a = ours.at("num_in_bin" + s).to_vector<std::int64_t>(), b = ref.at("num_in_bin" + s).to_vector<std::int64_t>();
        REQUIRE(a.size() == b.size());
        std::int64_t diff = 0;
        for (std::size_t i = 0; i < a.size(); ++i) diff += std::abs(a[i] - b[i]);
        CHECK(diff <= 2 * kEdgeMoves);
        CHECK(normalised_error(ours.at("acc_sum" + s), ref.at("acc_sum" + s), {}) <= (diff == 0 ? 1e-6 : 1e-2));
      }
      if (ref.contains("weights" + s)) {
        const Tensor wa = ours.at("weights" + s), wb = ref.at("weights" + s);
        REQUIRE(wa.shape() == wb.shape());
        moved.assign(static_cast<std::size_t>(wb.numel()), false);
        std::int64_t count = 0;
        for (std::int64_t i = 0; i < wb.numel(); ++i) {
          const float x = wa.data<float>()[i], y = wb.data<float>()[i];
          moved[static_cast<std::size_t>(i)] = std::abs(x - y) > 1e-5f * std::max(1.0f, std::abs(y));
          count += moved[static_cast<std::size_t>(i)];
        }
        MESSAGE(c, s, ": ", count, " element(s) with a different bin weight");
        // A moved element changes the weight of every element in its two bins when counts differ.
        if (count > 0) CHECK(ours.at("num_in_bin" + s).to_vector<std::int64_t>() != ref.at("num_in_bin" + s).to_vector<std::int64_t>());
        if (count == 0) CHECK(normalised_error(wa, wb, {}) <= 1e-5);
      }
      CHECK(normalised_error(ours.at("grad" + s), ref.at("grad" + s), moved) <= 1e-5);
    }
  }
  std::filesystem::remove_all(tmp);
}

TEST_CASE("loss command: a device it cannot use is an error naming the device and the reason") {
  const std::string in = ::ghm::testing::test_data_dir() + "/" + fixture_cases().front() + ".in.safetensors";
  const auto out = std::filesystem::temp_directory_path() / ("ghm_loss_dev_" + std::to_string(::getpid()) + ".st");
  CHECK_THROWS_WITH_AS(app::run_loss({"--kind", "bce", "--in", in, "--out", out.string(), "--device", "gpu"}),
                       doctest::Contains("device 'gpu' must be cpu, cuda or cuda:I"), std::exception);
  CHECK_THROWS_AS(app::run_loss({"--kind", "ghmc-exact", "--in", in, "--out", out.string(), "--device", "cuda"}),
                  app::UsageError);
  if (!cuda_gpu_available())
    CHECK_THROWS_WITH_AS(app::run_loss({"--kind", "bce", "--in", in, "--out", out.string(), "--device", "cuda"}),
                         doctest::Contains("device 'cuda': "), std::exception);
  CHECK_FALSE(std::filesystem::exists(out));
}
