// Fuzz targets: each feeds arbitrary bytes to one of the project's readers through its public API.
//
//   int fuzz_json(const std::uint8_t* data, std::size_t size);   // returns 0, as libFuzzer wants
//
// A reader may reject its input only by throwing ghm::Error (core/check.h), which the target
// catches: that is the reader doing its job. Everything else is a finding: another exception
// escaping, a crash, a sanitizer report, a hang, runaway memory, or a broken property that a
// target checks on the inputs the reader accepts (GHM_FUZZ_REQUIRE below: a JSON document that does
// not survive dump and parse again, an image whose pixel buffer disagrees with its size, an AP
// outside [0, 1]).
//
// The same functions run under libFuzzer (fuzz/libfuzzer_main.cpp, scripts/fuzz.sh) and in the
// unit tests (tests/fuzz/), which replay the seed corpus (fuzz/corpus/<target>/) and every past
// finding (fuzz/regressions/<target>/), so a fixed crash stays fixed in builds without clang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/check.h"

namespace ghm::fuzz {

// io::Json::parse on the bytes as text; an accepted document must survive dump -> parse -> dump.
int fuzz_json(const std::uint8_t* data, std::size_t size);
// io::parse_yaml on the text up to the first NUL byte; each NUL-separated piece after it is a
// `--set` assignment (io::apply_override), applied to that document and to a fixed config, and
// io::validate_keys checks the document against that config.
int fuzz_yaml(const std::uint8_t* data, std::size_t size);
// io::load_safetensors on the bytes as a file (an in-memory file, fuzz/memory_file.h).
int fuzz_safetensors(const std::uint8_t* data, std::size_t size);
// A COCO instances file through both views: coco::parse_ground_truth (evaluation) and
// coco::load_dataset (training, from an in-memory file).
int fuzz_coco_instances(const std::uint8_t* data, std::size_t size);
// A COCO results file (coco::parse_detections) against a fixed small ground truth, then
// coco::evaluate_bbox on what it accepted.
int fuzz_coco_results(const std::uint8_t* data, std::size_t size);
// io::decode_image (JPEG, PNG, BMP and stb_image's other formats).
int fuzz_image(const std::uint8_t* data, std::size_t size);

struct Target {
  std::string_view name;  // the folder name under fuzz/corpus/ and fuzz/regressions/
  int (*run)(const std::uint8_t* data, std::size_t size);
};

// Every target above, in a fixed order.
std::span<const Target> all_targets();

// A violated property of accepted input: prints `what` to stderr and aborts, which libFuzzer and
// the sanitizers report as a crash with the input that caused it.
[[noreturn]] void fuzz_failure(std::string_view what, const char* file, int line);

// Runs `read`; a ghm::Error from it is an expected rejection of bad input. Returns 0.
template <class Read>
int reject_quietly(Read&& read) {
  try {
    read();
  } catch (const ghm::Error&) {
  }
  return 0;
}

}  // namespace ghm::fuzz

#define GHM_FUZZ_REQUIRE(cond, what)                                             \
  do {                                                                           \
    if (!(cond)) ::ghm::fuzz::fuzz_failure(what, __FILE__, __LINE__);            \
  } while (0)
