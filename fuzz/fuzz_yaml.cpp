// Fuzz target: YAML configs and `--set` overrides (io/yaml.h). The input is a YAML document, then
// zero or more assignments ("a.b=value"), each after a NUL byte:
//   <document> \0 <assignment> \0 <assignment> ...
// The document goes to parse_yaml; each assignment (the first kMaxAssignments) to apply_override
// on the parsed document and on a fixed config shaped like configs/*.yaml (so that most paths
// name a key); validate_keys checks the document against the fixed config. Properties:
//   - a parsed document, and a config after overrides, dump() to JSON that Json::parse accepts
//     (no NaN, infinity or invalid text got into the tree);
//   - overrides never add a key the fixed config lacks: validate_keys against the untouched
//     fixed config finds no problem after any sequence of accepted overrides.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/targets.h"
#include "io/yaml.h"

namespace ghm::fuzz {
namespace {

constexpr std::string_view kFixedConfig = R"(model:
  backbone: {depth: 50, norm: frozen_bn, frozen_stages: 1}
  fpn: {width: 256, p6_from: c5}
  head: {num_classes: 80, prior: 0.01}
data:
  root: data/coco
  train_short_sides: [800]
  flip: 0.5
  filter_empty: true
  extra: ~
loss:
  cls: {type: ghmc, bins: 30, momentum: 0.75}
train:
  lr: 0.01
  steps: [8, 11]
  name: "run"
)";

// More assignments add little but time: each rejected one costs an exception.
constexpr std::size_t kMaxAssignments = 16;

const io::Json& fixed_config() {
  static const io::Json config = io::parse_yaml(kFixedConfig, "fixed config");
  return config;
}

void require_valid_json(const io::Json& value, const char* what) {
  try {
    (void)io::Json::parse(value.dump(), what);
  } catch (const ghm::Error& e) {
    fuzz_failure(std::string(what) + ": dump() is not valid JSON: " + e.what(), __FILE__, __LINE__);
  }
}

}  // namespace

int fuzz_yaml(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t end = input.find('\0');
  const std::string_view text = input.substr(0, end);
  std::vector<std::string_view> assignments;
  for (std::size_t at = end; at != std::string_view::npos && assignments.size() < kMaxAssignments;) {
    const std::size_t next = input.find('\0', at + 1);
    assignments.push_back(input.substr(at + 1, next == std::string_view::npos ? next : next - at - 1));
    at = next;
  }

  io::Json document;
  bool parsed = false;
  reject_quietly([&] {
    document = io::parse_yaml(text, "fuzz input");
    parsed = true;
    require_valid_json(document, "parsed document");
    (void)io::validate_keys(document, fixed_config());
  });
  io::Json config = fixed_config();
  for (const std::string_view assignment : assignments) {
    if (parsed) reject_quietly([&] { io::apply_override(document, assignment); });
    reject_quietly([&] { io::apply_override(config, assignment); });
  }
  if (parsed) require_valid_json(document, "document after overrides");
  require_valid_json(config, "fixed config after overrides");
  const std::vector<std::string> problems = io::validate_keys(config, fixed_config());
  GHM_FUZZ_REQUIRE(problems.empty(), "an override added a key: " + problems.front());
  return 0;
}

}  // namespace ghm::fuzz
